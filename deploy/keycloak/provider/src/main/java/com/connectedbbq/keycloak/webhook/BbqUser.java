package com.connectedbbq.keycloak.webhook;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.keycloak.models.FederatedIdentityModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;

/**
 * The {@code bbqUser} field of a webhook body: the account as this transaction leaves it (read inside the
 * event's transaction, so it is the state that commit produced). idp-hook turns it into the event's UserState;
 * Keycloak's own fields stay untouched, so receivers that do not know the field ignore it.
 */
public final class BbqUser {
    public static final String FIELD = "bbqUser";

    private BbqUser() {
    }

    /** @return the user's fields, or null when there is no such user (deleted in this transaction, or none). */
    public static Map<String, Object> read(KeycloakSession session, RealmModel realm, String userId) {
        if (realm == null || userId == null || userId.isBlank()) {
            return null;
        }
        UserModel u = session.users().getUserById(realm, userId);
        if (u == null) {
            return null;
        }
        return read(session, realm, u);
    }

    /** @return the fields of a user already found. */
    public static Map<String, Object> read(KeycloakSession session, RealmModel realm, UserModel u) {
        List<String> aliases = session.users().getFederatedIdentitiesStream(realm, u)
                .map(FederatedIdentityModel::getIdentityProvider).sorted().toList();
        return of(u, aliases);
    }

    static Map<String, Object> of(UserModel u, List<String> federatedIdentities) {
        return of(u.getId(), u.getUsername(), u.getEmail(), u.isEmailVerified(), u.getFirstName(), u.getLastName(),
                u.isEnabled(), u.getCreatedTimestamp(), federatedIdentities);
    }

    /** The fields from their stored columns; {@code federatedIdentities} sorted by alias. */
    public static Map<String, Object> of(String id, String username, String email, boolean emailVerified, String firstName,
            String lastName, boolean enabled, Long createdTimestamp, List<String> federatedIdentities) {
        Map<String, Object> m = new LinkedHashMap<>();
        put(m, "id", id);
        put(m, "username", username);
        put(m, "email", email);
        put(m, "emailVerified", emailVerified);
        put(m, "firstName", firstName);
        put(m, "lastName", lastName);
        put(m, "enabled", enabled);
        put(m, "createdTimestamp", createdTimestamp);
        put(m, "federatedIdentities", federatedIdentities);
        return m;
    }

    /** Unset fields are left out, as Keycloak's representations do. */
    private static void put(Map<String, Object> m, String key, Object value) {
        if (value != null) {
            m.put(key, value);
        }
    }

    /** The user an admin event on {@code users/{id}} or one of its sub-resources is about, or null. */
    public static String adminEventUserId(String resourcePath) {
        if (resourcePath == null || !resourcePath.startsWith("users/")) {
            return null;
        }
        String rest = resourcePath.substring("users/".length());
        int slash = rest.indexOf('/');
        String id = slash < 0 ? rest : rest.substring(0, slash);
        return id.isEmpty() ? null : id;
    }
}
