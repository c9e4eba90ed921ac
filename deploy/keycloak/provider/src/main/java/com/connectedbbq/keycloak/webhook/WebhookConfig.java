package com.connectedbbq.keycloak.webhook;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * Settings of the bbq-webhook listener. Each value comes from the SPI option (e.g.
 * {@code --spi-events-listener--bbq-webhook--url}), else from an environment variable, else a default.
 * A realm can point its events at another receiver with the realm attributes {@code bbqWebhookUrl} and
 * {@code bbqWebhookSecrets}, which is how the tests give every realm its own receiver.
 */
public record WebhookConfig(
        String url,
        List<String> secrets,
        Duration timeout,
        int queueSize,
        int maxAttempts,
        Duration baseDelay,
        Duration maxDelay,
        int threads) {

    public static final String REALM_URL_ATTRIBUTE = "bbqWebhookUrl";
    public static final String REALM_SECRETS_ATTRIBUTE = "bbqWebhookSecrets";

    /**
     * @param option reads an SPI option by name (null when unset)
     * @param env    reads an environment variable (null when unset)
     */
    public static WebhookConfig load(Function<String, String> option, Function<String, String> env) {
        return new WebhookConfig(
                trimToNull(first(option.apply("url"), env.apply("BBQ_WEBHOOK_URL"))),
                parseSecrets(first(option.apply("secrets"), env.apply("BBQ_WEBHOOK_SECRETS"))),
                Duration.ofMillis(positive("timeout-ms", first(option.apply("timeout-ms"), env.apply("BBQ_WEBHOOK_TIMEOUT_MS")), 5000)),
                (int) positive("queue-size", first(option.apply("queue-size"), env.apply("BBQ_WEBHOOK_QUEUE_SIZE")), 10000),
                (int) positive("max-attempts", first(option.apply("max-attempts"), env.apply("BBQ_WEBHOOK_MAX_ATTEMPTS")), 12),
                Duration.ofMillis(positive("base-delay-ms", first(option.apply("base-delay-ms"), env.apply("BBQ_WEBHOOK_BASE_DELAY_MS")), 500)),
                Duration.ofMillis(positive("max-delay-ms", first(option.apply("max-delay-ms"), env.apply("BBQ_WEBHOOK_MAX_DELAY_MS")), 60000)),
                (int) positive("threads", first(option.apply("threads"), env.apply("BBQ_WEBHOOK_THREADS")), 2));
    }

    /** Secrets are separated by commas or spaces, as idp-hook's WEBHOOK_SECRETS. */
    public static List<String> parseSecrets(String value) {
        if (value == null || value.isBlank()) {
            return List.of();
        }
        return Arrays.stream(value.split("[,\\s]+")).filter(s -> !s.isBlank()).toList();
    }

    /** The realm's overrides win over the server-wide values. */
    public Target target(String realmUrl, String realmSecrets) {
        String u = realmUrl != null && !realmUrl.isBlank() ? realmUrl.trim() : url;
        List<String> s = realmSecrets != null && !realmSecrets.isBlank() ? parseSecrets(realmSecrets) : secrets;
        return new Target(u, s);
    }

    /** Where one realm's events go. Unusable (no URL or no secret) means: log and drop. */
    public record Target(String url, List<String> secrets) {
        public boolean usable() {
            return url != null && !secrets.isEmpty();
        }

        /** Joins the base URL and a path without doubling or losing the slash. */
        public String endpoint(String path) {
            return url.endsWith("/") ? url.substring(0, url.length() - 1) + path : url + path;
        }
    }

    private static String first(String a, String b) {
        return a != null && !a.isBlank() ? a : b;
    }

    private static String trimToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }

    private static long positive(String name, String value, long dflt) {
        if (value == null || value.isBlank()) {
            return dflt;
        }
        try {
            long v = Long.parseLong(value.trim());
            if (v <= 0) {
                throw new IllegalArgumentException("bbq-webhook: " + name + " must be > 0, got " + value);
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bbq-webhook: " + name + " is not a number: " + value, e);
        }
    }
}
