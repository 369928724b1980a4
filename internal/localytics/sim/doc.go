// Package sim is an in-process and stand-alone simulator of the Localytics Import
// APIs (profile imports P1–P2 and audience imports A1–A6), following
// docs/localytics-api.md exactly. The vendor's service cannot be reached from tests,
// and users want to rehearse their imports without spending their real, hourly
// budget, so the simulator behaves like the vendor where it matters to a client:
//
//   - HTTP Basic auth per API key: 401 for bad credentials, 403 for a key without
//     access to the org or app named by the request.
//   - Budgets per API key with 429 (and a switchable Retry-After), modelled as a
//     sliding window over the arrival times of admitted calls (see budgets.go).
//   - Asynchronous jobs that move Pending → Running → Completed/Failed on a
//     configurable clock, and that really apply every valid change to the profile
//     state of their scope or to the audience list they create or replace.
//   - Error logs served by the simulator itself under /_sim/errors/.
//   - Switchable faults (5xx, delays, dropped connections after an accepted upload,
//     malformed JSON, forced 429, failing jobs) and inspection, both as Go methods
//     and as JSON endpoints under /_sim/: state, accepted uploads, 429s, and a
//     record of every API call (Calls, /_sim/calls) to count what a client spent.
//   - Dashboard actions that delete or rename a list outside the API, as a person
//     would (DeleteListInDashboard, RenameListInDashboard, /_sim/audiences/), so
//     that a client's drift detection can be tested.
//
// A *Server is an http.Handler: mount it on an httptest.Server in tests, or run
// cmd/localytics-sim.
package sim
