// minimal — the smallest complete relink app: create a client, log in, join a channel, print every state change
// and message until Enter. Takes URL APP_ID USER_ID TOKEN [CA_FILE [CHANNEL]] from argv or RELINK_* (below).
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include <relink/client.hpp>

int main(int argc, char** argv) {
    const auto arg = [&](int i, const char* env, const char* fallback) {
        const char* value = i < argc ? argv[i] : std::getenv(env);
        return std::string(value != nullptr ? value : fallback);
    };
    relink::ClientConfig config;
    config.url = arg(1, "RELINK_URL", "wss://127.0.0.1:8443/");
    config.app_id = arg(2, "RELINK_APP_ID", "");
    config.user_id = arg(3, "RELINK_USER_ID", "");
    config.token = arg(4, "RELINK_TOKEN", "");
    config.tls.ca_file = arg(5, "RELINK_CA_FILE", "");  // e.g. the file of relinkd --write-ca
    const std::string channel = arg(6, "RELINK_CHANNEL", "lobby");
    std::unique_ptr<relink::Client> made;
    try {
        made = std::make_unique<relink::Client>(config);
    } catch (const std::invalid_argument& e) {  // an unusable config: the message names the field
        std::cerr << "minimal: " << e.what() << std::endl;
        return 2;
    }
    relink::Client& client = *made;
    client.on_connection_state_changed([](const relink::ConnectionStateChanged& e) {
        std::cout << "connection " << to_string(e.state) << " (" << to_string(e.reason) << ")" << std::endl;
    });
    client.on_channel_state_changed([](const relink::ChannelStateChanged& e) {
        std::cout << "channel " << e.channel << " " << to_string(e.state) << " (" << to_string(e.reason) << ")"
                  << std::endl;
    });
    client.on_message([](const relink::MessageReceived& m) {
        std::cout << "message from " << m.from << (m.backfilled ? " (backfilled): " : ": ") << m.payload << std::endl;
    });
    std::error_code error = client.login();  // returns at once: the outcome arrives as state changes
    if (error || (error = client.join(channel))) {
        std::cerr << "minimal: " << error.message() << std::endl;
        return 1;
    }
    std::string line;
    std::getline(std::cin, line);  // then the destructor logs out
}
