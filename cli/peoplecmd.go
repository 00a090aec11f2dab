package cli

func peopleCommands() *command {
	return &command{name: "custody", summary: "who had custody of what"}
}
