package com.connectedbbq.keycloak.webhook;

/**
 * One event to deliver: already serialised inside the Keycloak transaction, so the worker thread never
 * touches the session.
 *
 * @param id     the Keycloak event id: the webhook-id, the same on every attempt
 * @param path   {@code /webhooks/keycloak/events} or {@code /webhooks/keycloak/admin-events}
 * @param kind   for logs, e.g. {@code REGISTER} or {@code USER/CREATE}
 * @param realm  for logs
 */
public record Delivery(String id, String path, String kind, String realm, String body, WebhookConfig.Target target) {
    public static final String EVENTS_PATH = "/webhooks/keycloak/events";
    public static final String ADMIN_EVENTS_PATH = "/webhooks/keycloak/admin-events";
}
