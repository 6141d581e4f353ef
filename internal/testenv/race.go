//go:build race

package testenv

// raceEnabled: this test binary was built with -race, so Build builds the
// processes it starts with -race too.
const raceEnabled = true
