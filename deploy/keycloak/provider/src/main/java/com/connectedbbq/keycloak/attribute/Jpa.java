package com.connectedbbq.keycloak.attribute;

import jakarta.persistence.EntityManager;
import jakarta.persistence.FlushModeType;
import java.util.function.Function;
import org.keycloak.models.KeycloakSession;
import org.keycloak.provider.Provider;

/** The request's JPA entity manager, for the extension's reads of Keycloak's tables by entity name. */
final class Jpa {
    private Jpa() {
    }

    /**
     * The request's entity manager, or null. Keycloak's JpaConnectionProvider is looked up by name: it is in
     * keycloak-model-jpa, whose parent POM (keycloak-model-pom) the package registry our builds use does not
     * serve, so the provider compiles without it. Keycloak always has it; callers fall back when it is gone.
     */
    static EntityManager entityManager(KeycloakSession session) {
        try {
            Class<? extends Provider> jpa = Class.forName("org.keycloak.connections.jpa.JpaConnectionProvider").asSubclass(Provider.class);
            Provider p = session.getProvider(jpa);
            return p == null ? null : (EntityManager) jpa.getMethod("getEntityManager").invoke(p);
        } catch (ReflectiveOperationException | ClassCastException e) {
            return null;
        }
    }

    /**
     * Runs a read with flushes at commit only, of which there are none to make. By default Hibernate flushes
     * before each query, checking every entity the request has loaded for changes: with each user's federated
     * identities read by a query, a page of n users cost n² checks (40 % of Keycloak's CPU while a reconciler
     * caught up, by a JFR profile).
     */
    static <T> T read(EntityManager em, Function<EntityManager, T> read) {
        FlushModeType flushMode = em.getFlushMode();
        em.setFlushMode(FlushModeType.COMMIT);
        try {
            return read.apply(em);
        } finally {
            em.setFlushMode(flushMode);
        }
    }
}
