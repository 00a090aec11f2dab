package sqlstore

import (
	"context"
	"strings"
)

// namesChunk is how many IDs one Names query looks up. The statement
// always has this many placeholders, unused ones bound to "", so there is
// one statement text to prepare and cache, whatever the number of IDs.
const namesChunk = 100

var namesQuery = func() string {
	in := "(?" + strings.Repeat(", ?", namesChunk-1) + ")"
	return `SELECT id, name FROM principals WHERE id IN ` + in + `
		UNION ALL SELECT id, name FROM clients WHERE id IN ` + in + `
		UNION ALL SELECT id, name FROM admin_credentials WHERE id IN ` + in
}()

func (s *Store) Names(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for len(ids) > 0 {
		n := min(len(ids), namesChunk)
		args := make([]any, namesChunk)
		for i := range args {
			args[i] = ""
			if i < n {
				args[i] = ids[i]
			}
		}
		ids = ids[n:]
		all := append(append(append([]any{}, args...), args...), args...)
		rows, err := s.cfg.Read.Query(ctx, namesQuery, all...)
		if err != nil {
			return nil, s.err("Names", err)
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return nil, s.err("Names", err)
			}
			if id != "" {
				out[id] = name
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.err("Names", err)
		}
	}
	return out, nil
}
