package app

import (
	"fmt"
	"os"
	"strings"

	"github.com/mayflyhq/mayfly"
	"github.com/mayflyhq/mayfly/internal/alert"
)

// startAlerts assembles the alert service and its delivery: the webhooks,
// signed with the secret in a file of its own so that it stays out of
// the configuration and the process list, and the OCSF file, appended to.
// The detection engine raises alerts through s.Alerts.
func (s *App) startAlerts() error {
	cfg := s.cfg
	var hooks []alert.Webhook
	if len(cfg.AlertWebhooks) > 0 {
		if cfg.AlertWebhookSecretFile == "" {
			return fmt.Errorf("--alert-webhook needs --alert-webhook-secret-file, a file holding the whsec_ secret that signs the webhooks")
		}
		b, err := os.ReadFile(cfg.AlertWebhookSecretFile)
		if err != nil {
			return fmt.Errorf("alert webhook secret: %w", err)
		}
		secret, err := alert.ParseSecret(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("alert webhook secret in %s: %s", cfg.AlertWebhookSecretFile, mayfly.ErrorMessage(err))
		}
		for _, u := range cfg.AlertWebhooks {
			if err := alert.CheckURL(u); err != nil {
				return fmt.Errorf("--alert-webhook: %s", mayfly.ErrorMessage(err))
			}
			hooks = append(hooks, alert.Webhook{URL: u, Secret: secret, Backoff: cfg.AlertWebhookBackoff})
		}
	}
	ac := alert.Config{Store: s.store, Audit: s.Audit, Clock: cfg.Clock, Rand: cfg.Rand, Log: cfg.Log, Webhooks: hooks}
	var file *os.File
	if cfg.AlertOCSF != "" {
		f, err := os.OpenFile(cfg.AlertOCSF, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("--alert-ocsf: %w", err)
		}
		file, ac.OCSF = f, f
	}
	s.Alerts = alert.New(ac)
	s.stopAlerts = func() {
		s.Alerts.Close()
		if file != nil {
			file.Close()
		}
	}
	return nil
}
