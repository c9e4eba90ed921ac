package com.connectedbbq.keycloak.webhook;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * Delivers webhooks off the request thread. At most {@code queueSize} deliveries are pending at once
 * (waiting, in flight or waiting for a retry); beyond that new events are dropped and logged, so a dead
 * receiver can never exhaust Keycloak's memory. Retries are scheduled, not slept, so a slow receiver does not
 * hold the worker threads.
 */
public final class WebhookSender implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(WebhookSender.class);

    private final WebhookConfig config;
    private final RetryPolicy retry;
    private final HttpClient http;
    private final ScheduledExecutorService executor;
    private final Clock clock;
    private final AtomicInteger pending = new AtomicInteger();
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();

    public WebhookSender(WebhookConfig config, Clock clock) {
        this.config = config;
        this.clock = clock;
        this.retry = new RetryPolicy(config.maxAttempts(), config.baseDelay(), config.maxDelay(),
                new java.util.Random()); // thread-safe: the workers share it
        this.http = HttpClient.newBuilder().connectTimeout(config.timeout())
                .followRedirects(HttpClient.Redirect.NEVER).build();
        AtomicInteger n = new AtomicInteger();
        ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(config.threads(), r -> {
            Thread t = new Thread(r, "bbq-webhook-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        ex.setRemoveOnCancelPolicy(true);
        this.executor = ex;
    }

    /** Queues a delivery; never blocks and never throws. */
    public void submit(Delivery d) {
        if (!d.target().usable()) {
            drop(d, 0, "no webhook URL or secret configured");
            return;
        }
        if (pending.incrementAndGet() > config.queueSize()) {
            pending.decrementAndGet();
            drop(d, 0, "queue full (" + config.queueSize() + ")");
            return;
        }
        schedule(d, 1, Duration.ZERO);
    }

    public int pending() {
        return pending.get();
    }

    public long delivered() {
        return delivered.get();
    }

    public long dropped() {
        return dropped.get();
    }

    private void schedule(Delivery d, int attempt, Duration delay) {
        try {
            executor.schedule(() -> attempt(d, attempt), delay.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            pending.decrementAndGet();
            drop(d, attempt, "shutting down");
        }
    }

    private void attempt(Delivery d, int attempt) {
        Optional<Duration> retryAfter = Optional.empty();
        String failure;
        try {
            HttpResponse<String> resp = http.send(request(d), HttpResponse.BodyHandlers.ofString());
            int status = resp.statusCode();
            if (status >= 200 && status < 300) {
                pending.decrementAndGet();
                delivered.incrementAndGet();
                LOG.debugf("bbq-webhook: delivered %s %s (realm %s) on attempt %d: %d", d.kind(), d.id(), d.realm(),
                        attempt, status);
                return;
            }
            failure = "HTTP " + status;
            if (!RetryPolicy.retryableStatus(status)) {
                pending.decrementAndGet();
                drop(d, attempt, failure + " (not retryable)");
                return;
            }
            retryAfter = RetryPolicy.parseRetryAfter(resp.headers().firstValue("Retry-After").orElse(null),
                    clock.instant());
        } catch (IOException e) {
            failure = e.getClass().getSimpleName() + ": " + e.getMessage(); // timeouts and refused connections
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            pending.decrementAndGet();
            drop(d, attempt, "interrupted");
            return;
        } catch (RuntimeException e) {
            pending.decrementAndGet();
            drop(d, attempt, e.toString());
            return;
        }
        Optional<Duration> next = retry.nextDelay(attempt, retryAfter);
        if (next.isEmpty()) {
            pending.decrementAndGet();
            drop(d, attempt, failure + " (attempts exhausted)");
            return;
        }
        LOG.infof("bbq-webhook: %s %s (realm %s) attempt %d failed: %s; retrying in %d ms", d.kind(), d.id(),
                d.realm(), attempt, failure, next.get().toMillis());
        schedule(d, attempt + 1, next.get());
    }

    private HttpRequest request(Delivery d) {
        long ts = clock.instant().getEpochSecond(); // per attempt: the receiver checks freshness
        String signature = new WebhookSigner(d.target().secrets()).sign(d.id(), ts, d.body());
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(d.target().endpoint(d.path())));
        if (d.traceparent() != null) {
            b.header("traceparent", d.traceparent());
        }
        return b
                .timeout(config.timeout())
                .header("Content-Type", "application/json")
                .header("User-Agent", "bbq-keycloak-provider")
                .header("webhook-id", d.id())
                .header("webhook-timestamp", Long.toString(ts))
                .header("webhook-signature", signature)
                .POST(HttpRequest.BodyPublishers.ofString(d.body()))
                .build();
    }

    private void drop(Delivery d, int attempt, String why) {
        dropped.incrementAndGet();
        // The event stays in Keycloak's event store; idp-hook's reconciler picks it up from there.
        LOG.warnf("bbq-webhook: dropped %s %s (realm %s) after %d attempt(s): %s", d.kind(), d.id(), d.realm(),
                attempt, why);
    }

    /** Stops taking work and gives in-flight deliveries a moment to finish. */
    @Override
    public void close() {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(5, TimeUnit.SECONDS)) {
                int left = executor.shutdownNow().size();
                LOG.warnf("bbq-webhook: shut down with %d deliveries not sent", left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            executor.shutdownNow();
        }
    }
}
