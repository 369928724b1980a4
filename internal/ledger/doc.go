// Package ledger keeps the profile upload budget of a LocalyticsAccount in
// its status.uploadLedger: one entry per upload slot taken in the current
// window, with the ProfileImport that took it (namespace/name and UID), the
// digest of its file and the attempt (0, or one more for each retry after an
// upload of unknown outcome).
//
// The ledger lives in the account's status, not in memory, so that every
// replica and every shard of the operator reserves from the same budget and a
// restarted operator remembers the uploads of the last window. Reservations
// are serialised by the API server's optimistic concurrency: each write
// carries the resourceVersion that was read, a concurrent write makes it fail
// with a conflict, and the reserver re-reads and decides again. Two reservers
// can therefore never both take the last slot.
//
// The pure part ([Summarize], [Prune], [UploadLimitOf]) is what the account
// controller shows in status.uploadsLeft and status.nextUploadSlot; the
// writing part ([Reserve], [RecordSent], [Release]) is what a ProfileImport
// reconciler calls around an upload.
package ledger
