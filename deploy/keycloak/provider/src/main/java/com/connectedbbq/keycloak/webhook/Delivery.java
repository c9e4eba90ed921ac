package com.connectedbbq.keycloak.webhook;

/**
 * One event to deliver: already serialised inside the Keycloak transaction, so the worker thread never
 * touches the session.
 *
 * @param id          the Keycloak event id: the webhook-id, the same on every attempt
 * @param path        {@code /webhooks/keycloak/events} or {@code /webhooks/keycloak/admin-events}
 * @param kind        for logs, e.g. {@code REGISTER} or {@code USER/CREATE}
 * @param realm       for logs
 * @param traceparent the W3C trace context of the request that caused the event ({@link Traces}), sent on
 *                    every attempt; null: none
 */
public record Delivery(String id, String path, String kind, String realm, String body, WebhookConfig.Target target,
        String traceparent) {
    public static final String EVENTS_PATH = "/webhooks/keycloak/events";
    public static final String ADMIN_EVENTS_PATH = "/webhooks/keycloak/admin-events";

    /** A delivery without a trace context. */
    public Delivery(String id, String path, String kind, String realm, String body, WebhookConfig.Target target) {
        this(id, path, kind, realm, body, target, null);
    }
}
