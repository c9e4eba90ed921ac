package com.connectedbbq.keycloak.attribute;

import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.keycloak.events.admin.OperationType;
import org.keycloak.events.admin.ResourceType;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.services.resources.admin.AdminEventBuilder;
import org.keycloak.services.resources.admin.fgap.AdminPermissionEvaluator;
import org.keycloak.userprofile.UserProfile;
import org.keycloak.userprofile.UserProfileContext;
import org.keycloak.userprofile.UserProfileProvider;
import org.keycloak.userprofile.ValidationException;

/**
 * {@code PUT /admin/realms/{realm}/bbq/users/{id}/attributes/{name}} with a JSON array of values ({@code []}
 * removes the attribute) sets that one attribute and changes nothing else of the user.
 *
 * <p>Keycloak's own {@code PUT /admin/realms/{realm}/users/{id}} cannot do that: with the declarative user
 * profile, a representation that carries attributes replaces the whole profile, and every field it does not
 * carry (email, first and last name included) is removed. A writer of one attribute must then send back the
 * email and names it read earlier, and undoes a change made in between. Here only the attribute's rows are
 * written, inside Keycloak's transaction, so a concurrent change of anything else is kept.
 *
 * <p>{@code PUT /admin/realms/{realm}/bbq/users/{id}/attributes} with a JSON object of names to values sets
 * several at once, in one write with one admin event (the tenant and the role in it).
 *
 * <p>The caller needs the same permission as for Keycloak's PUT (manage the user); the value is validated
 * by the realm's user profile, as Keycloak's PUT would (400 with the error); 404 {@code user_not_found} when
 * there is no such user. An admin event (USER UPDATE on {@code users/{id}}) records the change.
 */
public final class UserAttributeResource {
    private final KeycloakSession session;
    private final RealmModel realm;
    private final AdminPermissionEvaluator auth;
    private final AdminEventBuilder adminEvent;
    private final Set<String> writable;

    UserAttributeResource(KeycloakSession session, RealmModel realm, AdminPermissionEvaluator auth,
            AdminEventBuilder adminEvent, Set<String> writable) {
        this.session = session;
        this.realm = realm;
        this.auth = auth;
        this.adminEvent = adminEvent.resource(ResourceType.USER);
        this.writable = writable;
    }

    /** {@code POST users/states}: the states of many users in one request (see {@link UserStates}). */
    @POST
    @Path("users/states")
    @Consumes(MediaType.APPLICATION_JSON)
    @Produces(MediaType.APPLICATION_JSON)
    public Response states(List<String> ids) {
        return UserStates.read(session, realm, auth, ids);
    }

    /** {@code GET admin-events}: stored admin events on users, read as columns (see {@link StoredAdminEvents}). */
    @GET
    @Path("admin-events")
    @Produces(MediaType.APPLICATION_JSON)
    public Response adminEvents(@QueryParam("dateFrom") String from, @QueryParam("dateTo") String to, @QueryParam("max") String max) {
        return StoredAdminEvents.list(session, realm, auth, from, to, max);
    }

    @PUT
    @Path("users/{id}/attributes/{name}")
    @Consumes(MediaType.APPLICATION_JSON)
    public Response put(@PathParam("id") String id, @PathParam("name") String name, List<String> values) {
        Map<String, List<String>> one = new HashMap<>();
        one.put(name, values);
        return putAll(id, one);
    }

    /**
     * {@code PUT users/{id}/attributes} with a JSON object of attribute name to values sets those attributes
     * together (one write, one admin event), e.g. the tenant and the role in it.
     */
    @PUT
    @Path("users/{id}/attributes")
    @Consumes(MediaType.APPLICATION_JSON)
    public Response putAll(@PathParam("id") String id, Map<String, List<String>> attributes) {
        if (attributes == null || attributes.isEmpty()) {
            return error(Response.Status.BAD_REQUEST, "no_attributes", "name at least one attribute");
        }
        for (String name : attributes.keySet()) {
            if (!writable.contains(name)) {
                return error(Response.Status.BAD_REQUEST, "attribute_not_writable", "attribute " + name + " cannot be written here");
            }
        }
        UserModel user = session.users().getUserById(realm, id);
        if (user == null) {
            auth.users().requireQuery();
            return error(Response.Status.NOT_FOUND, "user_not_found", "user not found");
        }
        auth.users().requireManage(user);
        Map<String, List<String>> changed = new TreeMap<>();
        attributes.forEach((name, values) -> {
            List<String> clean = values == null ? List.of()
                    : values.stream().filter(Objects::nonNull).filter(v -> !v.isBlank()).collect(Collectors.toList());
            if (!clean.equals(user.getAttributeStream(name).collect(Collectors.toList()))) {
                changed.put(name, clean);
            }
        });
        if (changed.isEmpty()) {
            return Response.noContent().build(); // already so: no write, no event
        }
        for (Map.Entry<String, List<String>> e : changed.entrySet()) {
            String invalid = validate(user, e.getKey(), e.getValue());
            if (invalid != null) {
                return error(Response.Status.BAD_REQUEST, invalid, "invalid value of attribute " + e.getKey());
            }
        }
        changed.forEach((name, clean) -> {
            if (clean.isEmpty()) {
                user.removeAttribute(name);
            } else {
                user.setAttribute(name, clean);
            }
        });
        adminEvent.operation(OperationType.UPDATE).resourcePath("users", user.getId())
                .representation(Map.of("attributes", changed)).success();
        return Response.noContent().build();
    }

    /** The user profile's verdict on the attribute alone (errors of other attributes are not this write's). */
    private String validate(UserModel user, String name, List<String> values) {
        Map<String, List<String>> attrs = new HashMap<>(user.getAttributes());
        attrs.put(name, values);
        UserProfile profile = session.getProvider(UserProfileProvider.class).create(UserProfileContext.USER_API, attrs, user);
        try {
            profile.validate();
            return null;
        } catch (ValidationException e) {
            return e.getErrors().stream().filter(err -> name.equals(err.getAttribute()))
                    .map(ValidationException.Error::getMessage).findFirst().orElse(null);
        }
    }

    static Response error(Response.Status status, String error, String message) {
        return Response.status(status).type(MediaType.APPLICATION_JSON)
                .entity(Map.of("error", error, "errorMessage", message)).build();
    }
}
