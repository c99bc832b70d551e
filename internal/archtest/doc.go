// Package archtest holds the tests of the module's import rules (its
// _test.go file lists them): stages are plug-ins that import no other stage,
// the command line and the configuration name no stage but through
// stages/all, and the stores and the runner import nothing above them.
package archtest
