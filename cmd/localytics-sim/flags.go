package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/localytics-operator/localytics-operator/internal/localytics/sim"
)

// demoAccount is used when no --account is given: org 60 is the vendor's
// example, and every app id is allowed so people can use their own.
const demoAccount = "demo:demo-secret:org=60,app=*"

// options are the parsed command line.
type options struct {
	addr       string
	accounts   []sim.Account
	limits     sim.Limits
	retryAfter bool
	pending    time.Duration
	running    time.Duration
	publicURL  string
	spoolDir   string
	discard    bool
	faults     sim.Faults
	variants   sim.Variants
	logFormat  string
}

// config is the simulator configuration; faults are armed separately with
// SetFaults because they count down at run time.
func (o options) config(log *slog.Logger) sim.Config {
	return sim.Config{
		Accounts:       o.accounts,
		Limits:         o.limits,
		RetryAfter:     o.retryAfter,
		PendingFor:     o.pending,
		RunningFor:     o.running,
		PublicURL:      o.publicURL,
		Logger:         log,
		Variants:       o.variants,
		SpoolDir:       o.spoolDir,
		DiscardUploads: o.discard,
	}
}

// accountFlags collects repeated --account values.
type accountFlags []sim.Account

func (a *accountFlags) String() string { return fmt.Sprint(len(*a), " accounts") }

func (a *accountFlags) Set(v string) error {
	acct, err := parseAccount(v)
	if err != nil {
		return err
	}
	*a = append(*a, acct)
	return nil
}

// parseAccount reads KEY:SECRET:SCOPES where SCOPES is a comma-separated list
// of org=ID and app=ID (app=* allows every app). The secret may not contain a
// colon; vendor secrets never do.
func parseAccount(v string) (sim.Account, error) {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return sim.Account{}, errors.New("want KEY:SECRET:org=ID,app=ID")
	}
	acct := sim.Account{Key: parts[0], Secret: parts[1]}
	if len(parts) == 3 && parts[2] != "" {
		for _, scope := range strings.Split(parts[2], ",") {
			kind, id, ok := strings.Cut(strings.TrimSpace(scope), "=")
			switch {
			case ok && kind == "org":
				n, err := strconv.ParseInt(id, 10, 64)
				if err != nil || n <= 0 {
					return sim.Account{}, fmt.Errorf("org id %q is not a positive integer", id)
				}
				acct.OrgIDs = append(acct.OrgIDs, n)
			case ok && kind == "app" && id != "":
				acct.AppIDs = append(acct.AppIDs, id)
			default:
				return sim.Account{}, fmt.Errorf("scope %q: want org=ID or app=ID", scope)
			}
		}
	}
	return acct, nil
}

// parseVariants reads a comma-separated list of variant names.
func parseVariants(v string) (sim.Variants, error) {
	var out sim.Variants
	for _, name := range strings.Split(v, ",") {
		switch strings.TrimSpace(name) {
		case "":
		case "scopet":
			out.Scopet = true
		case "numeric-ids":
			out.NumericIDs = true
		case "lower-case-status":
			out.LowerCaseStatus = true
		case "swap-number-types":
			out.SwapNumberTypes = true
		case "create-ok":
			out.CreateOK = true
		case "delete-no-content":
			out.DeleteNoContent = true
		default:
			return out, fmt.Errorf("unknown variant %q", name)
		}
	}
	return out, nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	d := sim.DefaultLimits()
	var (
		o        options
		accounts accountFlags
		variants string
	)
	fs := flag.NewFlagSet("localytics-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8787", "address to listen on (port 0 picks a free port)")
	fs.Var(&accounts, "account", "KEY:SECRET:org=ID,app=ID,... (repeatable; app=* allows every app; default "+demoAccount+")")
	fs.IntVar(&o.limits.ProfileUploads, "profile-uploads", d.ProfileUploads, "profile uploads (P1) per window per key; negative disables")
	fs.DurationVar(&o.limits.ProfileUploadWindow, "profile-upload-window", d.ProfileUploadWindow, "window of the profile upload budget")
	fs.IntVar(&o.limits.ProfileStatus, "profile-status", d.ProfileStatus, "profile status calls (P2) per window per key; negative disables")
	fs.DurationVar(&o.limits.ProfileStatusWindow, "profile-status-window", d.ProfileStatusWindow, "window of the profile status budget")
	fs.IntVar(&o.limits.AudienceCalls, "audience-calls", d.AudienceCalls, "audience calls (A1-A6) per window per key; negative disables")
	fs.DurationVar(&o.limits.AudienceCallWindow, "audience-call-window", d.AudienceCallWindow, "window of the audience call budget")
	fs.IntVar(&o.limits.AudienceListsPerApp, "audience-lists-per-app", d.AudienceListsPerApp, "audience lists per app; negative disables")
	fs.Int64Var(&o.limits.MaxUploadBytes, "max-upload-bytes", d.MaxUploadBytes, "largest file accepted by an upload (413 above)")
	fs.BoolVar(&o.retryAfter, "retry-after", true, "send Retry-After with every 429")
	fs.DurationVar(&o.pending, "pending", 2*time.Second, "how long a job stays Pending")
	fs.DurationVar(&o.running, "running", 3*time.Second, "how long a job stays Running (at least)")
	fs.StringVar(&o.publicURL, "public-url", "", "base URL of error_log links (default: from the request's Host)")
	fs.StringVar(&o.spoolDir, "spool-dir", "", "directory for large uploads awaiting processing (default: the system temp dir)")
	fs.BoolVar(&o.discard, "discard-uploads", false, "benchmarks only: count the file of every upload and drop it instead of spooling it (its job then fails)")
	fs.Float64Var(&o.faults.ServerErrorRate, "server-error-rate", 0, "fault: fraction (0..1) of API requests answered 500/503")
	fs.DurationVar(&o.faults.Delay, "delay", 0, "fault: delay added to every API reply")
	fs.IntVar(&o.faults.DropAfterAccept, "drop-after-accept", 0, "fault: the next N accepted uploads close the connection without a reply")
	fs.IntVar(&o.faults.MalformedJSON, "malformed-json", 0, "fault: the next N JSON replies are truncated")
	fs.IntVar(&o.faults.Throttle, "throttle", 0, "fault: the next N authenticated API calls are answered 429")
	fs.IntVar(&o.faults.FailJobs, "fail-jobs", 0, "fault: the next N accepted jobs end Failed")
	fs.StringVar(&variants, "variants", "", "response variants clients must tolerate, comma-separated: "+
		"scopet, numeric-ids, lower-case-status, swap-number-types, create-ok, delete-no-content")
	fs.StringVar(&o.logFormat, "log-format", "text", "request log format on stderr: text or json")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if o.variants, err = parseVariants(variants); err != nil {
		return o, err
	}
	if o.faults.ServerErrorRate < 0 || o.faults.ServerErrorRate > 1 {
		return o, errors.New("--server-error-rate must be between 0 and 1")
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, errors.New("--log-format must be text or json")
	}
	o.accounts = accounts
	if len(o.accounts) == 0 {
		demo, _ := parseAccount(demoAccount)
		o.accounts = []sim.Account{demo}
	}
	return o, nil
}
