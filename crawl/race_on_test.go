//go:build race

package crawl_test

// raceEnabled: the race detector slows extraction ten- to twentyfold, so the
// benchmark test runs on a fixed quarter of the pages under -race.
const raceEnabled = true
