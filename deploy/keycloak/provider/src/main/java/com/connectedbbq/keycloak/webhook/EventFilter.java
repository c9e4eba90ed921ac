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
    static final Set<EventType> USER_EVENTS = EnumSet.of(EventType.REGISTER, EventType.VERIFY_EMAIL,
            EventType.UPDATE_PROFILE, EventType.UPDATE_EMAIL, EventType.DELETE_ACCOUNT);
    static final Set<OperationType> USER_OPERATIONS = EnumSet.of(OperationType.CREATE, OperationType.UPDATE,
            OperationType.DELETE);

    private EventFilter() {
    }

    public static boolean wanted(Event e) {
        return e.getType() != null && USER_EVENTS.contains(e.getType()) && e.getError() == null;
    }

    /** Admin operations on users; group memberships, credentials, role mappings are other resource types. */
    public static boolean wanted(AdminEvent e) {
        return e.getResourceType() == ResourceType.USER && USER_OPERATIONS.contains(e.getOperationType())
                && e.getError() == null;
    }
}
