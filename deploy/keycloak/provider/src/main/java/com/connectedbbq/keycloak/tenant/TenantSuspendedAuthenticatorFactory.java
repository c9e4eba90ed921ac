package com.connectedbbq.keycloak.tenant;

import java.util.List;
import org.keycloak.Config;
import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.AuthenticatorFactory;
import org.keycloak.models.AuthenticationExecutionModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.ProviderConfigProperty;

/**
 * {@code bbq-tenant-suspended}: the step of the realm's browser flow (after the person is known) that refuses a
 * sign-in to a suspended tenant with an error page. {@link DirectGrant} is the same step for the direct grant
 * flow, refusing with an OAuth error.
 */
public class TenantSuspendedAuthenticatorFactory implements AuthenticatorFactory {
    public static final String ID = "bbq-tenant-suspended";

    private static final AuthenticationExecutionModel.Requirement[] CHOICES = {
        AuthenticationExecutionModel.Requirement.REQUIRED, AuthenticationExecutionModel.Requirement.DISABLED};

    boolean directGrant() {
        return false;
    }

    @Override
    public Authenticator create(KeycloakSession session) {
        return new TenantSuspendedAuthenticator(directGrant());
    }

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayType() {
        return "BBQ: refuse a suspended tenant";
    }

    @Override
    public String getHelpText() {
        return "Refuses the sign-in when the person's default tenant (user attribute tenant) is a disabled "
                + "organization and none of their organizations is enabled.";
    }

    @Override
    public String getReferenceCategory() {
        return "bbq-tenant";
    }

    @Override
    public boolean isConfigurable() {
        return false;
    }

    @Override
    public AuthenticationExecutionModel.Requirement[] getRequirementChoices() {
        return CHOICES;
    }

    @Override
    public boolean isUserSetupAllowed() {
        return false;
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return List.of();
    }

    @Override
    public void init(Config.Scope config) {
    }

    @Override
    public void postInit(KeycloakSessionFactory factory) {
    }

    @Override
    public void close() {
    }

    /** {@code bbq-tenant-suspended-direct-grant}: the direct grant flow's variant (an invalid_grant error). */
    public static final class DirectGrant extends TenantSuspendedAuthenticatorFactory {
        public static final String ID = "bbq-tenant-suspended-direct-grant";

        @Override
        boolean directGrant() {
            return true;
        }

        @Override
        public String getId() {
            return ID;
        }

        @Override
        public String getDisplayType() {
            return "BBQ: refuse a suspended tenant (direct grant)";
        }
    }
}
