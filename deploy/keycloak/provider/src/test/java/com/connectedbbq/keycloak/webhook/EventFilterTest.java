package com.connectedbbq.keycloak.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.keycloak.events.Event;
import org.keycloak.events.EventType;
import org.keycloak.events.admin.AdminEvent;
import org.keycloak.events.admin.OperationType;
import org.keycloak.events.admin.ResourceType;

class EventFilterTest {
    @ParameterizedTest
    @CsvSource({"REGISTER,true", "VERIFY_EMAIL,true", "UPDATE_EMAIL,true", "IDENTITY_PROVIDER_FIRST_LOGIN,true",
            "FEDERATED_IDENTITY_LINK,true", "REMOVE_FEDERATED_IDENTITY,true", "USER_DISABLED_BY_PERMANENT_LOCKOUT,true",
            "UPDATE_PASSWORD,false", "UPDATE_CREDENTIAL,true", "LOGIN,false", "CODE_TO_TOKEN,false", "LOGOUT,false", "SEND_VERIFY_EMAIL,false"})
    void userEvents(EventType type, boolean want) {
        Event e = new Event();
        e.setType(type);
        assertEquals(want, EventFilter.wanted(e));
        e.setError("invalid_user");
        assertEquals(false, EventFilter.wanted(e), "failed events are never sent");
    }

    @ParameterizedTest
    @CsvSource({"USER,CREATE,users/u,true", "USER,UPDATE,users/u,true", "USER,DELETE,users/u,true",
            "USER,CREATE,users/u/federated-identity/github,true", "USER,DELETE,users/u/federated-identity/github,true",
            "USER,ACTION,users/u,true", "USER,ACTION,users/u/reset-password,false",
            "USER,ACTION,users/u/execute-actions-email,false", "GROUP_MEMBERSHIP,CREATE,users/u/groups/g,false",
            "REALM_ROLE_MAPPING,CREATE,users/u/role-mappings/realm,false"})
    void adminEvents(ResourceType resource, OperationType op, String path, boolean want) {
        AdminEvent e = new AdminEvent();
        e.setResourceType(resource);
        e.setOperationType(op);
        e.setResourcePath(path);
        assertEquals(want, EventFilter.wanted(e));
    }
}
