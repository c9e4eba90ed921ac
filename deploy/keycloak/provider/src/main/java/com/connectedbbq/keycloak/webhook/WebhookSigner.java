package com.connectedbbq.keycloak.webhook;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Signs webhook bodies per Standard Webhooks (https://www.standardwebhooks.com/): HMAC-SHA256 over
 * {@code id + "." + timestamp + "." + body}, base64, prefixed {@code v1,}; one signature per secret, space separated,
 * so the receiver can rotate secrets without a window where deliveries fail.
 */
public final class WebhookSigner {
    private static final String PREFIX = "whsec_";
    private final List<byte[]> keys;

    /** @param secrets secrets as {@code whsec_<base64>}; a value without the prefix is taken as raw bytes. */
    public WebhookSigner(List<String> secrets) {
        if (secrets == null || secrets.isEmpty()) {
            throw new IllegalArgumentException("at least one webhook secret is required");
        }
        List<byte[]> k = new ArrayList<>();
        for (String s : secrets) {
            k.add(decode(s.trim()));
        }
        this.keys = List.copyOf(k);
    }

    static byte[] decode(String secret) {
        if (secret.isEmpty()) {
            throw new IllegalArgumentException("empty webhook secret");
        }
        if (secret.startsWith(PREFIX)) {
            try {
                return Base64.getDecoder().decode(secret.substring(PREFIX.length()));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("webhook secret is not whsec_<base64>", e);
            }
        }
        return secret.getBytes(StandardCharsets.UTF_8);
    }

    /** @return the value of the {@code webhook-signature} header. */
    public String sign(String id, long timestampSeconds, String body) {
        byte[] content = (id + "." + timestampSeconds + "." + body).getBytes(StandardCharsets.UTF_8);
        StringBuilder out = new StringBuilder();
        for (byte[] key : keys) {
            if (out.length() > 0) {
                out.append(' ');
            }
            out.append("v1,").append(Base64.getEncoder().encodeToString(hmac(key, content)));
        }
        return out.toString();
    }

    private static byte[] hmac(byte[] key, byte[] content) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(content);
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            // Every JDK ships HmacSHA256; reaching this is a broken runtime, not bad input.
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }
}
