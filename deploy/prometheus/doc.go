// Package alerts holds the Prometheus alert rules of the daemon
// (alerts.yml) and their promtool unit tests (alerts_test.yml). It has no
// code: its Go test checks that the rules parse, that the alerts the spec
// requires exist, that every metric a rule reads is one the daemon exports,
// and runs `promtool test rules` when promtool is installed.
package alerts
