package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

func (a *app) execCmd() *cobra.Command {
	var f resolveFlags
	cmd := &cobra.Command{
		Use:   "exec [flags] -- COMMAND [ARG...]",
		Short: "Resolve references, then replace the launcher with COMMAND (no supervisor, no rotation)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("exec: no command given: %s", cmd.UseLine())}
			}
			r, err := a.newResolver(&f, args, "")
			if err != nil {
				return err
			}
			res, err := resolveInterruptibly(cmd.Context(), r)
			if err != nil {
				return err
			}
			code, err := injector.Exec(res.Launch.Argv, res.Launch.Env)
			if err != nil {
				return err
			}
			return exitError{code} // Windows, where the launcher waits for it
		},
	}
	cmd.Flags().SetInterspersed(false)
	f.register(cmd.Flags(), a, providers.FallbackAuto)
	return cmd
}
