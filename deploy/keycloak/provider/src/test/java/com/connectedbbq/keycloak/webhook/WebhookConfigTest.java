package com.connectedbbq.keycloak.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WebhookConfigTest {
    @Test
    void optionsWinOverEnvAndDefaultsFillTheRest() {
        Map<String, String> opts = Map.of("url", "http://opt:8080", "timeout-ms", "1500");
        Map<String, String> env = Map.of("BBQ_WEBHOOK_URL", "http://env", "BBQ_WEBHOOK_SECRETS", "whsec_a, whsec_b",
                "BBQ_WEBHOOK_MAX_ATTEMPTS", "3");
        WebhookConfig c = WebhookConfig.load(opts::get, env::get);
        assertEquals("http://opt:8080", c.url());
        assertEquals(List.of("whsec_a", "whsec_b"), c.secrets());
        assertEquals(Duration.ofMillis(1500), c.timeout());
        assertEquals(3, c.maxAttempts());
        assertEquals(10000, c.queueSize());
    }

    @Test
    void realmAttributesOverrideTheServer() {
        WebhookConfig c = WebhookConfig.load(Map.of("url", "http://server/", "secrets", "whsec_s")::get, k -> null);
        WebhookConfig.Target server = c.target(null, " ");
        assertEquals("http://server/webhooks/keycloak/events", server.endpoint(Delivery.EVENTS_PATH));
        WebhookConfig.Target realm = c.target("http://realm:1", "whsec_r1 whsec_r2");
        assertEquals("http://realm:1/webhooks/keycloak/admin-events", realm.endpoint(Delivery.ADMIN_EVENTS_PATH));
        assertEquals(List.of("whsec_r1", "whsec_r2"), realm.secrets());
        assertFalse(WebhookConfig.load(k -> null, k -> null).target(null, null).usable());
        assertTrue(realm.usable());
    }

    @Test
    void rejectsBadNumbers() {
        assertThrows(IllegalArgumentException.class, () -> WebhookConfig.load(Map.of("queue-size", "0")::get, k -> null));
        assertThrows(IllegalArgumentException.class, () -> WebhookConfig.load(Map.of("timeout-ms", "x")::get, k -> null));
    }
}
