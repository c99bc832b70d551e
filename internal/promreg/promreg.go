// Package promreg is the daemon's one metric-registration policy: a
// collector whose description is already registered is not an error and
// not a silent copy; the collector already registered is returned and used
// instead, so a second registration (a second instance of a stage in one
// process, a stage and its service, tests) writes the series that are
// scraped. Any other registration error (a name registered with other
// labels or help) is returned.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c, or returns the collector already registered under
// the same description.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// Into registers *c and, when its description is registered already,
// replaces *c with the registered collector. It suits a struct of
// collectors registered in one statement:
//
//	err := errors.Join(promreg.Into(reg, &m.requests), promreg.Into(reg, &m.latency))
func Into[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	got, err := Register(reg, *c)
	*c = got
	return err
}
