package com.connectedbbq.keycloak.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import java.lang.reflect.Proxy;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.keycloak.events.Event;
import org.keycloak.events.EventType;
import org.keycloak.events.admin.AdminEvent;
import org.keycloak.events.admin.OperationType;
import org.keycloak.events.admin.ResourceType;
import org.keycloak.models.FederatedIdentityModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakTransaction;
import org.keycloak.models.RealmModel;
import org.keycloak.models.RealmProvider;
import org.keycloak.models.UserModel;
import org.keycloak.models.UserProvider;
import org.keycloak.util.JsonSerialization;

/**
 * The body carries {@code bbqUser}: the user as the session holds it inside the event's transaction. Keycloak's
 * session, realm and user are stand-ins (Java proxies answering the calls the listener makes); the sender and
 * the HTTP server it posts to are real.
 */
class BbqUserTest {
    private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    private HttpServer server;
    private final List<String> bodies = new CopyOnWriteArrayList<>();
    private final List<KeycloakTransaction> afterCompletion = new CopyOnWriteArrayList<>();
    private final Map<String, UserModel> users = new HashMap<>();
    private WebhookSender sender;
    private BbqWebhookEventListenerProvider listener;

    @BeforeEach
    void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            bodies.add(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            ex.sendResponseHeaders(202, -1);
            ex.close();
        });
        server.start();
        Map<String, String> o = Map.of("url", "http://127.0.0.1:" + server.getAddress().getPort(), "secrets", SECRET);
        WebhookConfig config = WebhookConfig.load(o::get, k -> null);
        sender = new WebhookSender(config, Clock.systemUTC());
        listener = new BbqWebhookEventListenerProvider(standInSession(), config, sender);
    }

    @AfterEach
    void stop() {
        sender.close();
        server.stop(0);
    }

    private KeycloakSession standInSession() {
        RealmModel realm = StandIns.proxy(RealmModel.class, Map.of("getName", "bbq", "getId", "bbq"));
        RealmProvider realms = StandIns.proxy(RealmProvider.class, Map.of("getRealm", realm));
        UserProvider userProvider = (UserProvider) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {UserProvider.class}, (p, m, args) -> switch (m.getName()) {
                    case "getUserById" -> users.get((String) args[1]);
                    case "getFederatedIdentitiesStream" -> Stream.of(
                            new FederatedIdentityModel("second-realm", "ext-1", "ada"),
                            new FederatedIdentityModel("github", "ext-2", "ada"));
                    default -> throw new UnsupportedOperationException(m.getName());
                });
        return StandIns.session(afterCompletion, Map.of("realms", realms, "users", userProvider));
    }

    private static UserModel user(String id, boolean verified, boolean enabled) {
        Map<String, Object> a = new HashMap<>(Map.of("getId", id, "getUsername", "ada@example.com", "getEmail",
                "ada@example.com", "isEmailVerified", verified, "getFirstName", "Ada", "isEnabled", enabled,
                "getCreatedTimestamp", 1795520534879L));
        a.put("getLastName", null); // unset: left out of the body
        return (UserModel) Proxy.newProxyInstance(BbqUserTest.class.getClassLoader(), new Class<?>[] {UserModel.class},
                (p, m, args) -> {
                    if (a.containsKey(m.getName())) {
                        return a.get(m.getName());
                    }
                    throw new UnsupportedOperationException("UserModel." + m.getName());
                });
    }

    private static Event userEvent(String id, EventType type, String userId) {
        Event e = new Event();
        e.setId(id);
        e.setTime(1795520534899L);
        e.setType(type);
        e.setRealmId("bbq");
        e.setUserId(userId);
        return e;
    }

    private static AdminEvent adminEvent(String id, OperationType op, String path) {
        AdminEvent e = new AdminEvent();
        e.setId(id);
        e.setTime(1795520536614L);
        e.setRealmId("bbq");
        e.setOperationType(op);
        e.setResourceType(ResourceType.USER);
        e.setResourcePath(path);
        return e;
    }

    private JsonNode sent() throws Exception {
        StandIns.complete(afterCompletion, true);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (bodies.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(1, bodies.size());
        return JsonSerialization.mapper.readTree(bodies.remove(0));
    }

    @Test
    void userEventCarriesTheUserAsTheTransactionLeavesIt() throws Exception {
        users.put("u-1", user("u-1", true, true));
        Event e = userEvent("ev-1", EventType.IDENTITY_PROVIDER_FIRST_LOGIN, "u-1");
        e.setDetails(Map.of("identity_provider", "second-realm"));
        listener.onEvent(e);
        JsonNode body = sent();
        assertEquals("IDENTITY_PROVIDER_FIRST_LOGIN", body.get("type").asText(), "Keycloak's fields stay");
        assertEquals("second-realm", body.get("details").get("identity_provider").asText());
        JsonNode u = body.get("bbqUser");
        assertEquals("u-1", u.get("id").asText());
        assertEquals("ada@example.com", u.get("email").asText());
        assertTrue(u.get("emailVerified").asBoolean());
        assertTrue(u.get("enabled").asBoolean());
        assertEquals("Ada", u.get("firstName").asText());
        assertFalse(u.has("lastName"), "unset fields are left out");
        assertEquals(1795520534879L, u.get("createdTimestamp").asLong());
        assertEquals("[\"github\",\"second-realm\"]", u.get("federatedIdentities").toString(), "sorted aliases");
    }

    /** Keycloak's update-email handler reports UPDATE_EMAIL, then marks the address verified: the commit's state. */
    @Test
    void theUserIsReadWhenTheTransactionCommits() throws Exception {
        users.put("u-3", user("u-3", false, true));
        listener.onEvent(userEvent("ev-3", EventType.UPDATE_EMAIL, "u-3"));
        users.put("u-3", user("u-3", true, true)); // changed later in the same transaction
        assertTrue(sent().get("bbqUser").get("emailVerified").asBoolean());
    }

    @Test
    void adminEventOnASubResourceCarriesItsUser() throws Exception {
        users.put("u-2", user("u-2", false, false));
        listener.onEvent(adminEvent("ad-1", OperationType.CREATE, "users/u-2/federated-identity/github"), true);
        JsonNode u = sent().get("bbqUser");
        assertEquals("u-2", u.get("id").asText());
        assertFalse(u.get("enabled").asBoolean());
        assertFalse(u.get("emailVerified").asBoolean());
    }

    @Test
    void noBbqUserWhenTheUserIsGone() throws Exception {
        listener.onEvent(adminEvent("ad-2", OperationType.DELETE, "users/deleted-in-this-transaction"), true);
        JsonNode body = sent();
        assertFalse(body.has("bbqUser"));
        assertEquals("users/deleted-in-this-transaction", body.get("resourcePath").asText());
    }

    @ParameterizedTest
    @CsvSource(value = {"users/u-1,u-1", "users/u-1/federated-identity/github,u-1", "users/,NULL", "groups/g,NULL",
            "NULL,NULL"}, nullValues = "NULL")
    void adminEventUserId(String path, String want) {
        assertEquals(want, BbqUser.adminEventUserId(path));
    }

    @Test
    void readWithoutARealmOrUserIsNull() {
        assertNull(BbqUser.read(null, null, "u"));
    }
}
