package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

const (
	feelBegin = "<!-- bbq-bench-feel:begin -->"
	feelEnd   = "<!-- bbq-bench-feel:end -->"
)

func feelFlags(fs *flag.FlagSet, o *feelOptions) {
	fs.IntVar(&o.seq, "feel-seq", 50, "sign-ups one at a time through the real Keycloak, timed from the verification link to the tenant in the API (0: no feel stages)")
	fs.IntVar(&o.invites, "feel-invites", 20, "invitations accepted, timed to the shared tenant (pairs of the -feel-seq people)")
	fs.IntVar(&o.signups, "feel-signups", 200, "sign-ups at full speed through Keycloak for the CPU share (0: none)")
	fs.IntVar(&o.conc, "feel-conc", 8, "people signing up at once in the full-speed run")
	fs.IntVar(&o.browser, "feel-browser", 50, "sign-ups in Chromium, timed from the verification link to the dashboard showing the tenant (0: none)")
}

// feelStage runs the stages on the local system and writes their own section of -out.
func feelStage(ctx context.Context, o options, out io.Writer) error {
	if o.feel.seq <= 0 {
		return nil
	}
	r, err := runFeel(ctx, o.feel, out)
	if err != nil {
		return fmt.Errorf("feel: %w", err)
	}
	report := r.markdown(o)
	fmt.Fprintln(out, report)
	if o.out != "" {
		return writeMarked(o.out, feelBegin, feelEnd, report)
	}
	return nil
}

func (r *feelResult) markdown(o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Command: `make bench` (`go run ./test/bench%s`). The whole local system (`dev/stack`, as `make run`, on free ports): Keycloak with the shipped realm and our event listener, idp-hook, user-service, the dashboard, NATS in the bench process, Postgres.\n\n",
		machine(), argsNote(o))
	fmt.Fprintf(&b, "Load average (1, 5, 15 min) at the start of the one-at-a-time sign-ups: %s; of the Chromium ones: %s.\n\n", r.loadSeq, orDash(r.loadBrowser))
	fmt.Fprintf(&b, "| Measure | Result | Target |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| Verification link opened → tenant readable in the API (`GET /v1/me/tenants`), one person at a time, %d sign-ups (server side, no browser) | p50 %s, p99 %s | p99 < 1 s: %s |\n",
		len(r.seq), ms(r.seqP50), ms(r.seqP99), verdict(r.seqP99 < time.Second))
	fmt.Fprintf(&b, "| … of which after Keycloak handed out the tokens (code exchanged → tenant readable: the pipeline's part, at most) | p50 %s, p99 %s | |\n",
		ms(r.afterP50), ms(r.afterP99))
	if len(r.invites) > 0 { // -feel-invites 0: no row, rather than a target "met" by no sample
		fmt.Fprintf(&b, "| Invitation accepted (`POST /v1/invitations/{token}/accept`) → shared tenant among the person's tenants, %d invitations (server side) | p50 %s, p99 %s | p99 < 1 s: %s |\n",
			len(r.invites), ms(r.invP50), ms(r.invP99), verdict(r.invP99 < time.Second))
	}
	if br := r.browser; br != nil {
		fmt.Fprintf(&b, "| In Chromium: verification link opened → the dashboard shows the tenant, %d sign-ups | p50 %s, p99 %s | p99 < 1 s: %s |\n",
			len(br.Verify), ms(br.verifyP50), ms(br.verifyP99), verdict(br.verifyP99 < time.Second))
		fmt.Fprintf(&b, "| … of which from the dashboard's /profile (Keycloak and the code exchange done) to the tenant on the page | p50 %s, p99 %s | |\n",
			ms(br.dashP50), ms(br.dashP99))
		if len(br.Invite) > 0 {
			fmt.Fprintf(&b, "| In Chromium: “Join” clicked on the invitation page → the shared tenant on the page, %d invitations | p50 %s, p99 %s | p99 < 1 s: %s |\n",
				len(br.Invite), ms(br.inviteP50), ms(br.inviteP99), verdict(br.inviteP99 < time.Second))
		}
	} else if r.browserErr != "" {
		fmt.Fprintf(&b, "| In Chromium | not measured: %s | |\n", strings.ReplaceAll(r.browserErr, "|", "/"))
	}
	if r.signups > 0 {
		n := float64(r.signups)
		per := func(k string) string { return fmt.Sprintf("%.1f ms", r.cpu[k].Seconds()*1000/n) }
		fmt.Fprintf(&b, "| Sign-ups through Keycloak at full speed (%d, %d at a time: registration form, verification link, password, code exchange, tenant readable) | %.1f sign-ups/s | |\n",
			r.signups, r.conc, r.rate())
		fmt.Fprintf(&b, "| CPU per sign-up: Keycloak's java (busy %.2f of %d cores during the run) | %s | |\n",
			r.cpu[cpuKeycloak].Seconds()/r.took.Seconds(), runtime.NumCPU(), per(cpuKeycloak))
		fmt.Fprintf(&b, "| CPU per sign-up: ours = idp-hook %s + user-service %s + Postgres %s + NATS %s (%.0f %% of the bench process's %s, by its CPU profile) | %.1f ms | |\n",
			per(cpuHook), per(cpuUsers), per(cpuPostgres), per(cpuNATS), r.natsShare*100, per(cpuBench), r.ours().Seconds()*1000/n)
		fmt.Fprintf(&b, "| **Our CPU per sign-up as a share of Keycloak's** | **%.3f** (%.3f counting the whole bench process as NATS: an upper bound) | ≤ 0.1: %s |\n",
			r.share(), r.shareUpperBound(), verdict(r.share() <= 0.1))
		fmt.Fprintf(&b, "| CPU per sign-up: the dashboard proxying Keycloak's pages (not counted above) | %s | |\n", per(cpuDashboard))
		fmt.Fprintf(&b, "| Load average (1, 5, 15 min) before / after the full-speed run | %s / %s | |\n", r.loadBefore, r.loadAfter)
	}
	b.WriteString("\nCPU seconds are read from `/proc/<pid>/stat` (utime + stime, plus cutime + cstime of ended children) of each part's process tree just before and just after the full-speed run; the share is ours over Keycloak's for the same sign-ups. The machine is shared, so rates vary between runs; the share does not depend on the other load.\n")
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func argsNote(o options) string {
	if o.only == "feel" {
		return " -only feel"
	}
	return ""
}
