package com.connectedbbq.keycloak.webhook;

import io.opentelemetry.api.trace.SpanContext;
import java.security.SecureRandom;
import java.util.HexFormat;
import org.keycloak.models.KeycloakSession;
import org.keycloak.tracing.TracingProviderUtil;

/**
 * The W3C traceparent a webhook carries: that of Keycloak's own span for the request (with
 * {@code --tracing-enabled}), else a new one per event, so that every event can be followed through the
 * services it causes either way.
 */
final class Traces {
    private static final SecureRandom RANDOM = new SecureRandom();

    private Traces() {
    }

    /** Read on the request thread, where Keycloak's span is current. */
    static String traceparent(KeycloakSession session) {
        try {
            SpanContext sc = TracingProviderUtil.getTracingProvider(session).getCurrentSpan().getSpanContext();
            if (sc.isValid()) {
                return format(sc.getTraceId(), sc.getSpanId(), sc.getTraceFlags().asHex());
            }
        } catch (RuntimeException | LinkageError e) {
            // no tracing provider in this Keycloak: a trace of our own
        }
        return generate();
    }

    static String generate() {
        byte[] b = new byte[24];
        RANDOM.nextBytes(b);
        HexFormat hex = HexFormat.of();
        return format(hex.formatHex(b, 0, 16), hex.formatHex(b, 16, 24), "01");
    }

    static String format(String traceId, String spanId, String flags) {
        return "00-" + traceId + "-" + spanId + "-" + flags;
    }
}
