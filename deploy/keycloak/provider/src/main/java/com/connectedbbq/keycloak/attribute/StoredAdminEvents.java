package com.connectedbbq.keycloak.attribute;

import jakarta.persistence.EntityManager;
import jakarta.persistence.TypedQuery;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.services.resources.admin.fgap.AdminPermissionEvaluator;

/**
 * {@code GET /admin/realms/{realm}/bbq/admin-events}: the realm's stored admin events on users, oldest first, as
 * idp-hook's reconciler replays them. The query is that of Keycloak's {@code /admin-events} with
 * {@code resourceTypes=USER} and {@code direction=asc}, as far as the reconciler uses it: {@code dateFrom} and
 * {@code dateTo} in epoch milliseconds (both inclusive; either may be left out) and {@code max} (required, at most
 * {@value #MAX_EVENTS}); ties in time come back in any order, as from Keycloak's. Each event has the fields of
 * Keycloak's representation the reconciler reads: {@code id, time, realmId, operationType, resourceType,
 * resourcePath, representation, error} (no {@code authDetails}, no {@code details}).
 *
 * <p>Why: after an outage the reconciler lists thousands of these; Keycloak's endpoint loads each as an entity and
 * builds its representation through the admin event model, and writing those pages was about half of Keycloak's
 * CPU while 10,000 missed users were caught up (JFR). Here the rows are read as the columns sent.
 *
 * <p>The caller needs view-events, as for Keycloak's list. 400 {@code invalid_query} names what is wrong; 404
 * {@code not_available} without Keycloak's JPA event store, for the caller to use Keycloak's list.
 */
final class StoredAdminEvents {
    static final int MAX_EVENTS = 10_000;

    private StoredAdminEvents() {
    }

    static Response list(KeycloakSession session, RealmModel realm, AdminPermissionEvaluator auth, String from, String to, String max) {
        Page page;
        try {
            page = Page.parse(from, to, max);
        } catch (IllegalArgumentException e) {
            return UserAttributeResource.error(Response.Status.BAD_REQUEST, "invalid_query", e.getMessage());
        }
        auth.realm().requireViewEvents();
        EntityManager em = Jpa.entityManager(session);
        if (em == null) { // the caller lists through Keycloak's /admin-events instead, as from an older provider
            return UserAttributeResource.error(Response.Status.NOT_FOUND, "not_available", "no JPA event store to read");
        }
        return Response.ok(Jpa.read(em, m -> columns(m, realm, page)), MediaType.APPLICATION_JSON_TYPE).build();
    }

    /** The query's page: dateFrom and dateTo (null: open) and max. */
    record Page(Long from, Long to, int max) {
        static Page parse(String from, String to, String max) {
            Long m = number(max, "max");
            if (m == null || m < 1 || m > MAX_EVENTS) {
                throw new IllegalArgumentException("max must be 1 to " + MAX_EVENTS);
            }
            Page p = new Page(number(from, "dateFrom"), number(to, "dateTo"), m.intValue());
            if (p.from != null && p.to != null && p.from > p.to) {
                throw new IllegalArgumentException("dateFrom is after dateTo");
            }
            return p;
        }

        private static Long number(String v, String name) {
            if (v == null || v.isBlank()) {
                return null;
            }
            try {
                return Long.parseLong(v.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + " must be a whole number (dates in epoch milliseconds)");
            }
        }
    }

    /** The rows as the columns sent, by entity name (see Jpa.entityManager for why not by class). */
    private static List<Map<String, Object>> columns(EntityManager em, RealmModel realm, Page page) {
        StringBuilder jpql = new StringBuilder("select e.id, e.time, e.realmId, e.operationType, e.resourceType, e.resourcePath,"
                + " e.representation, e.error from AdminEventEntity e where e.realmId = :realm and e.resourceType = 'USER'");
        if (page.from() != null) {
            jpql.append(" and e.time >= :from");
        }
        if (page.to() != null) {
            jpql.append(" and e.time <= :to");
        }
        TypedQuery<Object[]> q = em.createQuery(jpql.append(" order by e.time").toString(), Object[].class)
                .setParameter("realm", realm.getId()).setMaxResults(page.max());
        if (page.from() != null) {
            q.setParameter("from", page.from());
        }
        if (page.to() != null) {
            q.setParameter("to", page.to());
        }
        return q.getResultList().stream().map(r -> event((String) r[0], (Long) r[1], (String) r[2], (String) r[3],
                (String) r[4], (String) r[5], (String) r[6], (String) r[7])).toList();
    }

    private static Map<String, Object> event(String id, long time, String realmId, String operationType, String resourceType,
            String resourcePath, String representation, String error) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("time", time);
        m.put("realmId", realmId);
        m.put("operationType", operationType);
        m.put("resourceType", resourceType);
        m.put("resourcePath", resourcePath);
        if (representation != null) {
            m.put("representation", representation);
        }
        if (error != null) {
            m.put("error", error);
        }
        return m;
    }
}
