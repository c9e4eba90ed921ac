package com.connectedbbq.keycloak.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The vectors in webhook-vectors.json are also checked against Go's pkg/webhook (testing/kctest). */
class WebhookSignerTest {
    @Test
    void matchesSharedVectors() throws Exception {
        JsonNode root;
        try (InputStream in = getClass().getResourceAsStream("/webhook-vectors.json")) {
            root = new ObjectMapper().readTree(in);
        }
        int n = 0;
        for (JsonNode v : root.get("vectors")) {
            List<String> secrets = new ArrayList<>();
            v.get("secrets").forEach(s -> secrets.add(s.asText()));
            String got = new WebhookSigner(secrets).sign(v.get("id").asText(), v.get("timestamp").asLong(),
                    v.get("body").asText());
            assertEquals(v.get("signature").asText(), got, v.get("name").asText());
            n++;
        }
        assertEquals(2, n);
    }

    @Test
    void rejectsMissingOrMalformedSecrets() {
        assertThrows(IllegalArgumentException.class, () -> new WebhookSigner(List.of()));
        assertThrows(IllegalArgumentException.class, () -> new WebhookSigner(List.of(" ")));
        assertThrows(IllegalArgumentException.class, () -> new WebhookSigner(List.of("whsec_not*base64")));
    }
}
