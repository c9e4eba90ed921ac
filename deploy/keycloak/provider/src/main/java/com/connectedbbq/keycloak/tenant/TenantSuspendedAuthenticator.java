package com.connectedbbq.keycloak.tenant;

import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Map;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.authentication.Authenticator;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.OrganizationModel;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.organization.OrganizationProvider;

/**
 * Refuses a sign-in whose tenant is suspended. The user service mirrors every tenant as an organization (alias =
 * the tenant id) and disables it while the tenant is suspended; the user attribute {@code tenant} names the
 * person's default tenant (the one their tokens carry). A person whose default tenant's organization is disabled
 * and who belongs to no enabled organization has nothing to sign in to: refused, with a message naming the tenant.
 * Someone with another, enabled tenant signs in (the API refuses the suspended one with 403 tenant-suspended, and
 * they switch). Nothing is written here: the user service stays the system of record.
 */
public final class TenantSuspendedAuthenticator implements Authenticator {
    /** The message key (realm localization text) shown on the refusal page; its {0} is the tenant's name. */
    public static final String MESSAGE = "bbqTenantSuspended";
    /** The login event's error. */
    public static final String EVENT_ERROR = "tenant_suspended";

    private final boolean directGrant;

    TenantSuspendedAuthenticator(boolean directGrant) {
        this.directGrant = directGrant;
    }

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        OrganizationModel suspended = suspendedTenant(context.getSession(), context.getUser());
        if (suspended == null) {
            context.success();
            return;
        }
        context.getEvent().user(context.getUser()).detail("tenant", suspended.getAlias()).error(EVENT_ERROR);
        context.failure(AuthenticationFlowError.ACCESS_DENIED, refusal(context, shownName(suspended)));
    }

    /** The tenant's display name: the description (organization names are made unique, display names are not). */
    static String shownName(OrganizationModel org) {
        String d = org.getDescription();
        return d == null || d.isBlank() ? org.getName() : d;
    }

    /** The organization of the user's default tenant when it is disabled and no other of theirs is enabled. */
    static OrganizationModel suspendedTenant(KeycloakSession session, UserModel user) {
        if (user == null) {
            return null;
        }
        String tenant = user.getFirstAttribute("tenant");
        OrganizationProvider orgs = session.getProvider(OrganizationProvider.class);
        if (tenant == null || tenant.isBlank() || orgs == null || !orgs.isEnabled()) {
            return null;
        }
        OrganizationModel org = orgs.getByAlias(tenant);
        if (org == null || org.isEnabled()) {
            return null;
        }
        boolean another = orgs.getByMember(user).anyMatch(OrganizationModel::isEnabled);
        return another ? null : org;
    }

    private Response refusal(AuthenticationFlowContext context, String tenantName) {
        if (directGrant) {
            return Response.status(Response.Status.BAD_REQUEST).type(MediaType.APPLICATION_JSON_TYPE)
                    .entity(Map.of("error", "invalid_grant", "error_description",
                            "tenant_suspended: the tenant " + tenantName + " is suspended"))
                    .build();
        }
        return context.form().setError(MESSAGE, tenantName).createErrorPage(Response.Status.FORBIDDEN);
    }

    @Override
    public void action(AuthenticationFlowContext context) {
        authenticate(context);
    }

    @Override
    public boolean requiresUser() {
        return true;
    }

    @Override
    public boolean configuredFor(KeycloakSession session, RealmModel realm, UserModel user) {
        return true;
    }

    @Override
    public void setRequiredActions(KeycloakSession session, RealmModel realm, UserModel user) {
    }

    @Override
    public void close() {
    }
}
