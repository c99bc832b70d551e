//go:build race

package extractbench

// raceEnabled: under -race only one peer's output is scored (the scorer is
// map-heavy and the detector slows it tenfold).
const raceEnabled = true
