package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	logins      *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	proxyErrors *prometheus.CounterVec
	csrfRefused prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bbq_dashboard_http_requests_total", Help: "HTTP requests by route group and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bbq_dashboard_http_request_duration_seconds", Help: "HTTP request latency by route group.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bbq_dashboard_logins_total", Help: "Completed and failed logins by outcome.",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bbq_dashboard_token_refreshes_total", Help: "Access token refreshes by outcome.",
		}, []string{"outcome"}),
		proxyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bbq_dashboard_proxy_errors_total", Help: "Upstream errors of the /api and /auth proxies.",
		}, []string{"upstream"}),
		csrfRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bbq_dashboard_csrf_refused_total", Help: "State-changing requests refused by the CSRF check.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.logins, m.refreshes, m.proxyErrors, m.csrfRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
