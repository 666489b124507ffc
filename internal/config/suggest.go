package config

import (
	"strings"
	"unicode/utf8"
)

// suggest returns the candidate that s most likely misspells, if any: the
// one at the smallest edit distance, counting a swap of two neighbouring
// letters as one edit and ignoring case. Short words allow one edit and
// longer ones two, so that "foo" is not taken for "log".
func suggest(s string, candidates []string) (string, bool) {
	limit := min(2, max(1, utf8.RuneCountInString(s)/3))
	best, bestDist := "", limit+1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if c == s {
			continue
		}
		if d := distance(ls, strings.ToLower(c), limit); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best, best != ""
}

// distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// runes. Above limit it returns limit+1 without finishing the work, which
// keeps a huge unknown key from costing more than a short one.
func distance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if abs(len(ra)-len(rb)) > limit {
		return limit + 1
	}
	// Three rows of the dynamic-programming table suffice.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(rb)], limit+1)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
