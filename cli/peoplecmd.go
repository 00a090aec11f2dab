package cli

func peopleCommands() []*command { return nil }
