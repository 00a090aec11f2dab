package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/api"
)

func scimCommands() *command {
	return &command{name: "scim", summary: "SCIM provisioning", sub: []*command{
		{name: "token", summary: "credentials for identity providers", sub: []*command{
			{name: "create", summary: "create a SCIM credential for an identity provider; its token is shown once", run: scimTokenCreate},
		}},
	}}
}

// scimTokenCreate makes the credential an identity provider provisions
// people with. It works at /scim/v2 and nowhere else; list and revoke it
// with the credential commands.
func scimTokenCreate(ctx context.Context, args []string, env Env) error {
	req := api.CredentialRequest{Role: mayfly.RoleSCIM}
	_, a, c, err := admin("scim token create", args, env, 0, "no arguments", func(f *flags) {
		f.StringVar(&req.Name, "name", "scim", "a name for the credential, such as the identity provider's")
		f.StringVar(&req.Owner, "owner", "", "the person accountable for it; offboarding them revokes it")
	})
	if err != nil {
		return err
	}
	cc, err := c.CreateCredential(ctx, req)
	if err != nil {
		return err
	}
	return a.print(env, cc, func(w io.Writer) {
		credentialFields(w, cc.AdminCredential, cc.OwnerName)
		fields(w, "scim_url", c.BaseURL+api.SCIMPath, "token", cc.Token)
		fmt.Fprintln(w, "\nThe token is shown once and cannot be recovered: enter it and the SCIM URL in the identity provider now.")
		fmt.Fprintln(w, "It works only for SCIM provisioning.")
	})
}
