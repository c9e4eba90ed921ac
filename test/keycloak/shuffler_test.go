package keycloak

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"
)

// shuffler stands between Keycloak and idp-hook: it answers every webhook 202 at once, as if it were
// idp-hook, and delivers it later, the exact signed bytes and headers, after a random delay, in random
// order, some twice. What idp-hook refuses for a while (5xx, 429, no connection) it retries, as Keycloak's
// provider would.
type shuffler struct {
	URL      string
	maxDelay time.Duration
	dupRate  float64

	mu        sync.Mutex
	target    string // idp-hook's base URL; nothing is delivered before it is set
	rnd       *rand.Rand
	queue     []*heldWebhook
	inFlight  int
	lastSeen  time.Time
	stats     map[string]int
	statuses  map[int]int
	stop      chan struct{}
	done      chan struct{}
	client    *http.Client
	rejection []string // 4xx answers of idp-hook: a webhook it will never take
}

type heldWebhook struct {
	path   string
	header http.Header
	body   []byte
	due    time.Time
}

func newShuffler(t *testing.T, seed uint64, maxDelay time.Duration, dupRate float64) *shuffler {
	s := &shuffler{maxDelay: maxDelay, dupRate: dupRate, rnd: rand.New(rand.NewPCG(seed, 0x5eed)),
		stats: map[string]int{}, statuses: map[int]int{}, stop: make(chan struct{}), done: make(chan struct{}),
		client: &http.Client{Timeout: 10 * time.Second}, lastSeen: time.Now()}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = srv.URL
	go s.run()
	t.Cleanup(func() {
		close(s.stop)
		<-s.done
		srv.Close()
	})
	return s
}

// deliverTo sets idp-hook's URL: held webhooks start to flow.
func (s *shuffler) deliverTo(target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.target = target
}

func (s *shuffler) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := r.Header.Clone()
	h.Del("Content-Length")
	s.mu.Lock()
	now := time.Now()
	s.lastSeen = now
	s.stats["received"]++
	s.hold(&heldWebhook{path: r.URL.Path, header: h, body: body, due: now.Add(s.delay())})
	if s.rnd.Float64() < s.dupRate {
		s.stats["duplicated"]++
		s.hold(&heldWebhook{path: r.URL.Path, header: h, body: body, due: now.Add(2 * s.delay())})
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (s *shuffler) delay() time.Duration { return time.Duration(s.rnd.Int64N(int64(s.maxDelay) + 1)) }

func (s *shuffler) hold(w *heldWebhook) { s.queue = append(s.queue, w) }

// run delivers what is due, in random order, up to four at once (as parallel receivers would).
func (s *shuffler) run() {
	defer close(s.done)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		for _, w := range s.takeDue() {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				s.forward(w)
			}()
		}
	}
}

func (s *shuffler) takeDue() []*heldWebhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.target == "" {
		return nil
	}
	now := time.Now()
	var due, later []*heldWebhook
	for _, w := range s.queue {
		if w.due.After(now) {
			later = append(later, w)
		} else {
			due = append(due, w)
		}
	}
	s.rnd.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	s.queue = later
	s.inFlight += len(due)
	return due
}

func (s *shuffler) forward(w *heldWebhook) {
	s.mu.Lock()
	target := s.target
	s.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, target+w.path, bytes.NewReader(w.body))
	req.Header = w.header.Clone()
	status := 0
	resp, err := s.client.Do(req)
	if err == nil {
		status = resp.StatusCode
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if status/100 == 4 && status != http.StatusTooManyRequests {
			s.mu.Lock()
			s.rejection = append(s.rejection, fmt.Sprintf("%s %d %s: %s", w.path, status, msg, w.body[:min(len(w.body), 300)]))
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	s.statuses[status]++
	if err != nil || status >= 500 || status == http.StatusTooManyRequests {
		s.stats["retried"]++
		w.due = time.Now().Add(500 * time.Millisecond)
		s.hold(w)
		return
	}
	s.stats["forwarded"]++
}

// idleFor says whether nothing is held or in flight, and Keycloak sent nothing for d.
func (s *shuffler) idleFor(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) == 0 && s.inFlight == 0 && time.Since(s.lastSeen) >= d
}

func (s *shuffler) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	codes := make([]int, 0, len(s.statuses))
	for c := range s.statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	out := fmt.Sprintf("webhooks: %d received from Keycloak, %d held twice, %d delivered, %d retried; idp-hook answered",
		s.stats["received"], s.stats["duplicated"], s.stats["forwarded"], s.stats["retried"])
	for _, c := range codes {
		out += fmt.Sprintf(" %d×%d", s.statuses[c], c)
	}
	return out
}
