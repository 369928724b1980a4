// Package localytics is the client of the Localytics Import APIs: profile
// imports (P1, P2) and audience lists (A1–A6), as settled in docs/localytics-api.md.
//
// Everything the operator needs from the vendor goes through [Interface].
// The client is shaped by three facts about this API:
//
//   - Budgets are tiny (10 profile uploads an hour per API key). The client
//     keeps a sliding window per budget and API key ([Budgets]), refuses a
//     call that would exceed it without sending it, and answers
//     [Client.NextAllowed] so that controllers requeue at the right time
//     instead of collecting 429s.
//
//   - Uploads must happen at most once per content digest. Files are streamed
//     (the request body's WriteTo sends the multipart envelope around the
//     file, which a goroutine reads a few 1 MiB chunks ahead of the
//     connection) and never held in memory, so an upload body cannot be
//     resent; the client never retries an upload that reached the server.
//     When the connection is lost after the request was sent, or the server
//     accepted it without a readable activity id, the error says so
//     ([IsUnknownOutcome]) and the operator's ledger decides what to do.
//
//   - The vendor is loosely specified. Responses are decoded tolerantly
//     (numbers or numeric strings, any letter case in statuses, unknown
//     statuses treated as still pending, the misspelt "scopet" field, empty or
//     non-JSON error bodies), and every failure is a typed error: [APIError],
//     [BudgetExceededError], [NetworkError], [DecodeError],
//     [UnknownOutcomeError], classified by the Is* helpers.
//
// Credentials travel only in the Authorization header, never in URLs, and are
// redacted from every error, log line and formatted value.
package localytics
