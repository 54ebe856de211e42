// Built once by setup into the overlay's Go build cache: it imports the standard packages that
// the benchmark's tests import (testing and fmt everywhere; strings, sort, unicode, strconv,
// unicode/utf8, reflect, regexp, math in some), so their vet facts and test-main objects are cached.
package warm_test

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestWarm(t *testing.T) {
	words := []string{strings.ToUpper("b"), strconv.Itoa(int(math.Abs(-1)))}
	sort.Strings(words)
	ok := unicode.IsUpper('B') && utf8.RuneCountInString("ab") == 2 && regexp.MustCompile("a+").MatchString("aa")
	if fmt.Sprintf("%v", words) != "[1 B]" || !ok || !reflect.DeepEqual(words, []string{"1", "B"}) {
		t.Errorf("unexpected %v", words)
	}
}
