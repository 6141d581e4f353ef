package main

import (
	"cmp"
	"fmt"
	"os/exec"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mcp-secrets/mcp-secrets/injector"
	"github.com/mcp-secrets/mcp-secrets/providers"
)

func (a *app) checkCmd() *cobra.Command {
	var f resolveFlags
	cmd := &cobra.Command{
		Use:   "check [flags] [-- COMMAND [ARG...]]",
		Short: "Resolve every reference and print where each value comes from, masked; start nothing",
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.newResolver(&f, args, "")
			if err != nil {
				return err
			}
			defer r.Close()
			res, err := r.Resolve(cmd.Context())
			if res != nil {
				a.printTable(res.Resolved)
			}
			if err == nil && len(args) > 0 {
				// The last check run makes before it starts the child.
				if _, lerr := exec.LookPath(args[0]); lerr != nil {
					err = &injector.StartError{Err: lerr}
				}
			}
			return err
		},
	}
	cmd.Flags().SetInterspersed(false)
	f.register(cmd.Flags(), a, providers.FallbackAuto)
	return cmd
}

// printTable writes one row per reference; the masked value is on the
// variable's first row.
func (a *app) printTable(resolved []providers.Resolved) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tPROVIDER\tREFERENCE\tVERSION\tSOURCE\tVALUE")
	for _, r := range resolved {
		for i, src := range r.Sources {
			name, value := r.Name, r.Value.Masked()
			if i > 0 {
				name, value = "", ""
			}
			from := src.Provider
			if src.Fallback != "" {
				from = "fallback " + src.Fallback
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, src.Provider, src.Ref, cmp.Or(src.Version, "-"), from, value)
		}
	}
	tw.Flush()
}
