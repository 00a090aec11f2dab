package cli

import "context"

func doctor(ctx context.Context, args []string, env Env) error { return usagef("doctor: not built yet") }
