package detect

// MaxPending is how many tokens may wait for their issuance record at once.
const MaxPending = maxPending

// SortRuns is sortRuns, for its tests.
var SortRuns = sortRuns
