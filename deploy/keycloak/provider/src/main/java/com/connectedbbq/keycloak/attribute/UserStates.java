package com.connectedbbq.keycloak.attribute;

import com.connectedbbq.keycloak.webhook.BbqUser;
import jakarta.persistence.EntityManager;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.services.resources.admin.fgap.AdminPermissionEvaluator;

/**
 * {@code POST /admin/realms/{realm}/bbq/users/states} with a JSON array of user ids answers
 * {@code {"users": [...]}}: each existing user's state as a webhook's {@code bbqUser} carries it ({@link BbqUser});
 * an id without a user is left out (deleted).
 *
 * <p>Why: idp-hook's reconciler replays stored events, which carry no state, so after an outage it reads every
 * missed user. Keycloak's admin API reads one user per request, and each request's token check and permission
 * evaluation cost Keycloak more than the read (4.9 ms of CPU per user here); this reads a page of users in one.
 *
 * <p>The caller needs what {@code GET users/{id}} needs: query users, and view each (view-users: all of them).
 */
final class UserStates {
    static final int MAX_IDS = 500;

    private UserStates() {
    }

    static Response read(KeycloakSession session, RealmModel realm, AdminPermissionEvaluator auth, List<String> ids) {
        if (ids == null || ids.isEmpty() || ids.stream().anyMatch(id -> id == null || id.isBlank())) {
            return UserAttributeResource.error(Response.Status.BAD_REQUEST, "no_ids", "send a JSON array of user ids");
        }
        if (ids.size() > MAX_IDS) {
            return UserAttributeResource.error(Response.Status.BAD_REQUEST, "too_many_ids", "at most " + MAX_IDS + " ids per request");
        }
        auth.users().requireQuery();
        List<String> unique = List.copyOf(new LinkedHashSet<>(ids));
        boolean viewAll = auth.users().canView();
        EntityManager em = Jpa.entityManager(session);
        if (em == null) {
            return ok(states(session, realm, auth, viewAll, unique, Map.of()));
        }
        return Jpa.read(em, m -> ok(states(session, realm, auth, viewAll, unique, viewAll ? stored(m, realm, unique) : Map.of())));
    }

    private static Response ok(List<Map<String, Object>> users) {
        return Response.ok(Map.of("users", users), MediaType.APPLICATION_JSON_TYPE).build();
    }

    /** Each id's state: read already from the database, or through Keycloak's user model. */
    private static List<Map<String, Object>> states(KeycloakSession session, RealmModel realm, AdminPermissionEvaluator auth,
            boolean viewAll, List<String> ids, Map<String, Map<String, Object>> stored) {
        List<Map<String, Object>> users = new ArrayList<>();
        for (String id : ids) {
            Map<String, Object> state = stored.get(id);
            if (state != null) {
                users.add(state);
                continue;
            }
            UserModel u = session.users().getUserById(realm, id);
            if (u == null) {
                continue;
            }
            if (!viewAll) {
                auth.users().requireView(u);
            }
            users.add(BbqUser.read(session, realm, u));
        }
        return users;
    }

    /**
     * The states of the realm's local users among {@code ids}, read in two queries. Why: through the user model,
     * each user is a cache lookup and insertion and a query of its identity-provider links (half of Keycloak's
     * CPU while a reconciler caught up, by a JFR profile). Users of a user-storage provider (LDAP, say) are left
     * to the model, which lets the provider answer for them; so is every id not found (deleted).
     */
    private static Map<String, Map<String, Object>> stored(EntityManager em, RealmModel realm, List<String> ids) {
        List<Object[]> rows = em.createQuery("select u.id, u.username, u.email, u.emailVerified, u.firstName, u.lastName,"
                + " u.enabled, u.createdTimestamp from UserEntity u"
                + " where u.realmId = :realm and u.federationLink is null and u.id in :ids", Object[].class)
                .setParameter("realm", realm.getId()).setParameter("ids", ids).getResultList();
        if (rows.isEmpty()) {
            return Map.of();
        }
        Map<String, List<String>> links = new HashMap<>();
        em.createQuery("select l.user.id, l.identityProvider from FederatedIdentityEntity l"
                + " where l.user.id in :ids", Object[].class)
                .setParameter("ids", rows.stream().map(r -> (String) r[0]).toList()).getResultList()
                .forEach(l -> links.computeIfAbsent((String) l[0], k -> new ArrayList<>()).add((String) l[1]));
        Map<String, Map<String, Object>> states = new HashMap<>();
        for (Object[] r : rows) {
            String id = (String) r[0];
            List<String> aliases = links.getOrDefault(id, List.of()).stream().sorted().toList();
            states.put(id, BbqUser.of(id, (String) r[1], (String) r[2], (Boolean) r[3], (String) r[4], (String) r[5],
                    (Boolean) r[6], (Long) r[7], aliases));
        }
        return states;
    }
}
