package com.connectedbbq.keycloak.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RetryPolicyTest {
    private final RetryPolicy policy = new RetryPolicy(5, Duration.ofMillis(100), Duration.ofSeconds(2), new Random(1));

    @ParameterizedTest
    @CsvSource({"408,true", "429,true", "500,true", "502,true", "503,true", "400,false", "401,false",
            "404,false", "413,false", "202,false"})
    void retryableStatuses(int status, boolean retry) {
        assertEquals(retry, RetryPolicy.retryableStatus(status));
    }

    @Test
    void backoffGrowsWithJitterUpToTheCap() {
        for (int attempt = 1; attempt < 5; attempt++) {
            long ceiling = Math.min(2000, 100L << (attempt - 1));
            for (int i = 0; i < 200; i++) {
                long d = policy.nextDelay(attempt, Optional.empty()).orElseThrow().toMillis();
                assertTrue(d >= ceiling / 2 && d <= ceiling, "attempt " + attempt + ": " + d);
            }
        }
    }

    @Test
    void stopsAfterMaxAttempts() {
        assertTrue(policy.nextDelay(4, Optional.empty()).isPresent());
        assertFalse(policy.nextDelay(5, Optional.empty()).isPresent());
    }

    @Test
    void retryAfterWinsWhenLongerButIsCapped() {
        assertEquals(Duration.ofSeconds(1), policy.nextDelay(1, Optional.of(Duration.ofSeconds(1))).orElseThrow());
        assertEquals(Duration.ofSeconds(2), policy.nextDelay(1, Optional.of(Duration.ofHours(1))).orElseThrow());
    }

    @Test
    void parsesRetryAfter() {
        Instant now = Instant.parse("2026-11-24T10:00:00Z");
        assertEquals(Optional.of(Duration.ofSeconds(7)), RetryPolicy.parseRetryAfter("7", now));
        assertEquals(Optional.of(Duration.ofSeconds(30)),
                RetryPolicy.parseRetryAfter("Tue, 24 Nov 2026 10:00:30 GMT", now));
        assertEquals(Optional.of(Duration.ZERO), RetryPolicy.parseRetryAfter("Tue, 24 Nov 2026 09:00:00 GMT", now));
        assertEquals(Optional.empty(), RetryPolicy.parseRetryAfter("soon", now));
        assertEquals(Optional.empty(), RetryPolicy.parseRetryAfter(null, now));
        assertEquals(Optional.empty(), RetryPolicy.parseRetryAfter("-3", now));
    }
}
