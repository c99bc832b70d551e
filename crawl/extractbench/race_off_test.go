//go:build !race

package extractbench

const raceEnabled = false
