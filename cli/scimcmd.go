package cli

func scimCommands() *command {
	return &command{name: "scim", summary: "SCIM provisioning"}
}
