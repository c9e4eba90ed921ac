package com.connectedbbq.keycloak.webhook;

import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Optional;
import java.util.random.RandomGenerator;

/**
 * When to try a delivery again: timeouts, connection errors, 408, 429 and 5xx are worth retrying; everything
 * else (400, 401, 413...) is the receiver telling us the event will never be accepted.
 * Delays grow exponentially with "full jitter" (a random delay between half and all of the capped
 * exponential), and a {@code Retry-After} from the receiver wins when it asks for longer.
 */
public final class RetryPolicy {
    private final int maxAttempts;
    private final Duration base;
    private final Duration max;
    private final RandomGenerator random;

    public RetryPolicy(int maxAttempts, Duration base, Duration max, RandomGenerator random) {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be >= 1");
        }
        if (base.isNegative() || base.isZero() || max.compareTo(base) < 0) {
            throw new IllegalArgumentException("need 0 < base <= max");
        }
        this.maxAttempts = maxAttempts;
        this.base = base;
        this.max = max;
        this.random = random;
    }

    public int maxAttempts() {
        return maxAttempts;
    }

    public static boolean retryableStatus(int status) {
        return status == 408 || status == 429 || status >= 500;
    }

    /**
     * @param attempt the attempt that just failed, from 1
     * @return the delay before the next attempt, or empty when attempts are used up
     */
    public Optional<Duration> nextDelay(int attempt, Optional<Duration> retryAfter) {
        if (attempt >= maxAttempts) {
            return Optional.empty();
        }
        long cap = max.toMillis();
        long exp = base.toMillis() << Math.min(attempt - 1, 30);
        long ceiling = Math.min(cap, exp > 0 ? exp : cap);
        long floor = ceiling / 2;
        long delay = floor + (ceiling > floor ? random.nextLong(ceiling - floor + 1) : 0);
        if (retryAfter.isPresent()) {
            // The receiver knows when it will be back; never hammer it sooner, but cap absurd values.
            long ra = Math.min(retryAfter.get().toMillis(), cap);
            delay = Math.max(delay, ra);
        }
        return Optional.of(Duration.ofMillis(delay));
    }

    /** Parses a Retry-After header: delta-seconds or an HTTP date. */
    public static Optional<Duration> parseRetryAfter(String value, Instant now) {
        if (value == null || value.isBlank()) {
            return Optional.empty();
        }
        String v = value.trim();
        try {
            long seconds = Long.parseLong(v);
            return seconds < 0 ? Optional.empty() : Optional.of(Duration.ofSeconds(seconds));
        } catch (NumberFormatException ignored) {
            // not delta-seconds; try the date form
        }
        try {
            Instant at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
            Duration d = Duration.between(now, at);
            return Optional.of(d.isNegative() ? Duration.ZERO : d);
        } catch (DateTimeParseException e) {
            return Optional.empty();
        }
    }
}
