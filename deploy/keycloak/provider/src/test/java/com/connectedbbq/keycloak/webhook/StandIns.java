package com.connectedbbq.keycloak.webhook;

import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakTransaction;
import org.keycloak.models.KeycloakTransactionManager;

/**
 * Stand-ins for Keycloak's session objects (Java proxies answering only the calls the listener makes); no
 * Keycloak server runs in the provider's unit tests. The server itself is exercised by testing/kctest.
 */
final class StandIns {
    private StandIns() {
    }

    /** A proxy of type that answers the named methods with fixed values and refuses all others. */
    @SuppressWarnings("unchecked")
    static <T> T proxy(Class<T> type, Map<String, Object> answers) {
        return (T) Proxy.newProxyInstance(StandIns.class.getClassLoader(), new Class<?>[] {type}, (p, m, args) -> {
            if (answers.containsKey(m.getName())) {
                return answers.get(m.getName());
            }
            switch (m.getName()) {
                case "getRealm":
                    return null; // no such realm
                case "getAttribute":
                    return null; // no per-realm webhook: the server-wide URL
                default:
                    throw new UnsupportedOperationException(type.getSimpleName() + "." + m.getName());
            }
        });
    }

    /**
     * A session whose transaction manager records the prepare-phase and after-completion transactions the listener
     * enlists (in that order in the list, as Keycloak runs them).
     */
    static KeycloakSession session(List<KeycloakTransaction> enlisted, Map<String, Object> answers) {
        KeycloakTransactionManager tm = (KeycloakTransactionManager) Proxy.newProxyInstance(
                StandIns.class.getClassLoader(), new Class<?>[] {KeycloakTransactionManager.class}, (p, m, args) -> {
                    if (m.getName().equals("enlistPrepare") || m.getName().equals("enlistAfterCompletion")) {
                        enlisted.add((KeycloakTransaction) args[0]);
                        return null;
                    }
                    throw new UnsupportedOperationException(m.getName());
                });
        Map<String, Object> all = new HashMap<>(answers);
        all.put("getTransactionManager", tm);
        return proxy(KeycloakSession.class, all);
    }

    /** Ends the listener's transactions of one event as Keycloak does: the prepare phase, then after completion. */
    static void complete(List<KeycloakTransaction> enlisted, boolean commit) {
        if (enlisted.size() != 2) {
            throw new AssertionError("want one prepare-phase and one after-completion transaction, got " + enlisted.size());
        }
        for (KeycloakTransaction tx : List.copyOf(enlisted)) {
            tx.begin();
            if (commit) {
                tx.commit();
            } else {
                tx.rollback();
            }
        }
        enlisted.clear();
    }
}
