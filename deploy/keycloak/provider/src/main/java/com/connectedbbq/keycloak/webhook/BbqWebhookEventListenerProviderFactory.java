package com.connectedbbq.keycloak.webhook;

import java.time.Clock;
import java.util.List;
import org.jboss.logging.Logger;
import org.keycloak.Config;
import org.keycloak.events.EventListenerProvider;
import org.keycloak.events.EventListenerProviderFactory;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.provider.ProviderConfigurationBuilder;

/** Registers the {@code bbq-webhook} event listener; one sender (queue + threads) per Keycloak node. */
public final class BbqWebhookEventListenerProviderFactory implements EventListenerProviderFactory {
    public static final String ID = "bbq-webhook";
    private static final Logger LOG = Logger.getLogger(BbqWebhookEventListenerProviderFactory.class);

    private WebhookConfig config;
    private WebhookSender sender;

    @Override
    public EventListenerProvider create(KeycloakSession session) {
        return new BbqWebhookEventListenerProvider(session, config, sender);
    }

    @Override
    public void init(Config.Scope scope) {
        config = WebhookConfig.load(scope::get, System::getenv);
        sender = new WebhookSender(config, Clock.systemUTC());
        // Never log the secrets themselves.
        LOG.infof("bbq-webhook: url=%s secrets=%d timeout=%s queue=%d attempts=%d",
                config.url() == null ? "(per realm only)" : config.url(), config.secrets().size(), config.timeout(),
                config.queueSize(), config.maxAttempts());
    }

    @Override
    public void postInit(KeycloakSessionFactory factory) {
    }

    @Override
    public void close() {
        if (sender != null) {
            sender.close();
        }
    }

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public List<ProviderConfigProperty> getConfigMetadata() {
        return ProviderConfigurationBuilder.create()
                .property().name("url").type("string").helpText("Base URL of idp-hook (env BBQ_WEBHOOK_URL)").add()
                .property().name("secrets").type("string")
                .helpText("whsec_ secrets, comma separated (env BBQ_WEBHOOK_SECRETS)").secret(true).add()
                .property().name("timeout-ms").type("int").helpText("Per-attempt timeout").defaultValue(5000).add()
                .property().name("queue-size").type("int").helpText("Pending deliveries before dropping")
                .defaultValue(10000).add()
                .property().name("max-attempts").type("int").helpText("Attempts per event").defaultValue(12).add()
                .property().name("base-delay-ms").type("int").defaultValue(500).add()
                .property().name("max-delay-ms").type("int").defaultValue(60000).add()
                .property().name("threads").type("int").defaultValue(2).add()
                .build();
    }
}
