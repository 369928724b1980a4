// Package controllers holds one reconciler per kind of imports.localytics.dev.
// Each controller is split by concern: *_controller.go (wiring and the list of
// phases), *_phases.go and *_status.go (every condition is set in one place).
package controllers
