package com.connectedbbq.keycloak.webhook;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.UUID;
import org.jboss.logging.Logger;
import org.keycloak.events.Event;
import org.keycloak.events.EventListenerProvider;
import org.keycloak.events.admin.AdminEvent;
import org.keycloak.models.AbstractKeycloakTransaction;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.utils.ModelToRepresentation;
import org.keycloak.util.JsonSerialization;

/**
 * Turns wanted events into deliveries. Listeners run inside the request's transaction, which may still roll
 * back; so the event is serialised in it (while the session is open), with the user as this transaction leaves
 * it ({@link BbqUser}, read in its prepare phase), and handed to the sender only from an after-completion
 * transaction's commit, i.e. once Keycloak's own transaction has committed.
 */
public final class BbqWebhookEventListenerProvider implements EventListenerProvider {
    private static final Logger LOG = Logger.getLogger(BbqWebhookEventListenerProvider.class);

    private final KeycloakSession session;
    private final WebhookConfig config;
    private final WebhookSender sender;

    public BbqWebhookEventListenerProvider(KeycloakSession session, WebhookConfig config, WebhookSender sender) {
        this.session = session;
        this.config = config;
        this.sender = sender;
    }

    @Override
    public void onEvent(Event event) {
        if (!EventFilter.wanted(event)) {
            return;
        }
        try {
            RealmModel realm = realm(event.getRealmId());
            Delivery d = new Delivery(idOf(event.getId()), Delivery.EVENTS_PATH, event.getType().name(),
                    name(realm, event.getRealmId()), body(ModelToRepresentation.toRepresentation(event), null),
                    target(realm), Traces.traceparent(session));
            enqueue(d, ModelToRepresentation.toRepresentation(event), realm, event.getUserId());
        } catch (IOException | RuntimeException e) {
            // Never break a registration because of the webhook; the reconciler reads the event store.
            LOG.warnf(e, "bbq-webhook: could not prepare %s %s", event.getType(), event.getId());
        }
    }

    @Override
    public void onEvent(AdminEvent event, boolean includeRepresentation) {
        if (!EventFilter.wanted(event)) {
            return;
        }
        try {
            var rep = ModelToRepresentation.toRepresentation(event);
            if (!includeRepresentation) {
                rep.setRepresentation(null);
            }
            String kind = event.getResourceType() + "/" + event.getOperationType();
            RealmModel realm = realm(event.getRealmId());
            Delivery d = new Delivery(idOf(event.getId()), Delivery.ADMIN_EVENTS_PATH, kind,
                    name(realm, event.getRealmId()), body(rep, null), target(realm), Traces.traceparent(session));
            enqueue(d, rep, realm, BbqUser.adminEventUserId(event.getResourcePath()));
        } catch (IOException | RuntimeException e) {
            LOG.warnf(e, "bbq-webhook: could not prepare admin event %s", event.getId());
        }
    }

    /** Keycloak's representation, plus {@code bbqUser} when the user exists. */
    static String body(Object representation, Map<String, Object> user) throws IOException {
        ObjectNode node = JsonSerialization.mapper.valueToTree(representation);
        if (user != null) {
            node.set(BbqUser.FIELD, JsonSerialization.mapper.valueToTree(user));
        }
        return JsonSerialization.mapper.writeValueAsString(node);
    }

    /** The user as this transaction leaves it; a failed read only costs the state, never the event. */
    private Map<String, Object> user(RealmModel realm, String userId) {
        try {
            return BbqUser.read(session, realm, userId);
        } catch (RuntimeException e) {
            LOG.warnf(e, "bbq-webhook: could not read user %s; sending the event without bbqUser", userId);
            return null;
        }
    }

    /** Keycloak 26 gives every event an id; should one lack it, make one now so retries still share it. */
    private static String idOf(String id) {
        return id != null && !id.isBlank() ? id : UUID.randomUUID().toString();
    }

    private RealmModel realm(String realmId) {
        return realmId == null ? null : session.realms().getRealm(realmId);
    }

    private static String name(RealmModel realm, String realmId) {
        return realm == null ? realmId : realm.getName();
    }

    private WebhookConfig.Target target(RealmModel realm) {
        if (realm == null) {
            return config.target(null, null);
        }
        return config.target(realm.getAttribute(WebhookConfig.REALM_URL_ATTRIBUTE),
                realm.getAttribute(WebhookConfig.REALM_SECRETS_ATTRIBUTE));
    }

    /**
     * Adds the user to the body when the transaction is about to commit (its prepare phase: every change of the
     * request is made, e.g. Keycloak's update-email handler marks the new address verified after it reports
     * UPDATE_EMAIL), and hands the delivery to the sender once it has committed.
     */
    private void enqueue(Delivery plain, Object representation, RealmModel realm, String userId) {
        AtomicReference<Delivery> ready = new AtomicReference<>(plain);
        AbstractKeycloakTransaction withUser = new AbstractKeycloakTransaction() {
            @Override
            protected void commitImpl() {
                ready.set(withUser(plain, representation, realm, userId));
            }

            @Override
            protected void rollbackImpl() {
            }
        };
        try {
            session.getTransactionManager().enlistPrepare(withUser);
        } catch (RuntimeException e) { // the transaction is already committing: read the user now
            ready.set(withUser(plain, representation, realm, userId));
        }
        session.getTransactionManager().enlistAfterCompletion(new AbstractKeycloakTransaction() {
            @Override
            protected void commitImpl() {
                sender.submit(ready.get());
            }

            @Override
            protected void rollbackImpl() {
                LOG.debugf("bbq-webhook: %s %s rolled back; not sent", plain.kind(), plain.id());
            }
        });
    }

    /** The delivery with bbqUser; never throws (that would fail Keycloak's commit): without it on error. */
    private Delivery withUser(Delivery plain, Object representation, RealmModel realm, String userId) {
        try {
            Map<String, Object> user = user(realm, userId);
            if (user == null) {
                return plain;
            }
            return new Delivery(plain.id(), plain.path(), plain.kind(), plain.realm(), body(representation, user),
                    plain.target(), plain.traceparent());
        } catch (IOException | RuntimeException e) {
            LOG.warnf(e, "bbq-webhook: %s %s sent without bbqUser", plain.kind(), plain.id());
            return plain;
        }
    }

    @Override
    public void close() {
    }
}
