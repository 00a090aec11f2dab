package cli

// Leaves returns the path of every command that runs, such as
// ["key", "ring", "list"], in the order of the command table.
func Leaves() [][]string {
	var out [][]string
	var walk func([]*command, []string)
	walk = func(cs []*command, prefix []string) {
		for _, c := range cs {
			path := append(append([]string{}, prefix...), c.name)
			if c.run != nil {
				out = append(out, path)
			}
			walk(c.sub, path)
		}
	}
	walk(root.sub, nil)
	return out
}
