package com.connectedbbq.keycloak.webhook;

import java.util.EnumSet;
import java.util.Set;
import org.keycloak.events.Event;
import org.keycloak.events.EventType;
import org.keycloak.events.admin.AdminEvent;
import org.keycloak.events.admin.OperationType;
import org.keycloak.events.admin.ResourceType;

/** Listeners receive every event Keycloak emits; only these matter to the user platform. */
public final class EventFilter {
    /**
     * Events that create, delete or can change a user's email, verification, name, enablement or identity-provider
     * links (idp-hook's kcevent.UserEventTypes is the same list; the realm stores them for its reconciler).
     */
    static final Set<EventType> USER_EVENTS = EnumSet.of(EventType.REGISTER, EventType.VERIFY_EMAIL,
            EventType.UPDATE_PROFILE, EventType.UPDATE_EMAIL, EventType.DELETE_ACCOUNT,
            EventType.IDENTITY_PROVIDER_FIRST_LOGIN, EventType.IDENTITY_PROVIDER_LINK_ACCOUNT,
            EventType.IDENTITY_PROVIDER_LOGIN, EventType.FEDERATED_IDENTITY_LINK,
            EventType.FEDERATED_IDENTITY_OVERRIDE_LINK, EventType.REMOVE_FEDERATED_IDENTITY, EventType.VERIFY_PROFILE,
            EventType.RESET_PASSWORD, EventType.UPDATE_CREDENTIAL, EventType.EXECUTE_ACTIONS,
            EventType.EXECUTE_ACTION_TOKEN, EventType.CUSTOM_REQUIRED_ACTION,
            EventType.USER_DISABLED_BY_PERMANENT_LOCKOUT);
    static final Set<OperationType> USER_OPERATIONS = EnumSet.of(OperationType.CREATE, OperationType.UPDATE,
            OperationType.DELETE);

    private EventFilter() {
    }

    public static boolean wanted(Event e) {
        return e.getType() != null && USER_EVENTS.contains(e.getType()) && e.getError() == null;
    }

    /**
     * Admin creates, updates and deletes of users and their sub-resources (identity-provider links), and actions on
     * a user itself. Actions on sub-resources (reset-password, execute-actions-email, logout) change no state;
     * group memberships and role mappings are other resource types.
     */
    public static boolean wanted(AdminEvent e) {
        if (e.getResourceType() != ResourceType.USER || e.getError() != null || e.getOperationType() == null) {
            return false;
        }
        if (e.getOperationType() == OperationType.ACTION) {
            String id = BbqUser.adminEventUserId(e.getResourcePath());
            return id != null && e.getResourcePath().equals("users/" + id);
        }
        return USER_OPERATIONS.contains(e.getOperationType());
    }
}
